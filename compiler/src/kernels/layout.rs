//! Channel-first and channel-last orders of 4-D arrays, for kernels that run NHWC. Both
//! directions are a transpose of `channels x pixels` matrices per batch item, copied in
//! square tiles so that reads and writes both stay within a few cache lines.

/// Tile side of the blocked transpose.
const TILE: usize = 32;

/// `dst[j * rows + i] = src[i * cols + j]` for a `rows x cols` matrix `src`.
fn transpose<T: Copy>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                let row = &src[i * cols..][..cols];
                for j in j0..(j0 + TILE).min(cols) {
                    dst[j * rows + i] = row[j];
                }
            }
        }
    }
}

/// A 4-D NCHW (or OIHW) array of shape `s` in NHWC (OHWI) order.
pub fn nchw_to_nhwc<T: Copy + Default>(v: &[T], s: &[usize]) -> Vec<T> {
    let (c, hw) = (s[1], s[2] * s[3]);
    let mut out = vec![T::default(); v.len()];
    if c * hw > 0 {
        for (src, dst) in v.chunks_exact(c * hw).zip(out.chunks_exact_mut(c * hw)) {
            transpose(src, c, hw, dst);
        }
    }
    out
}

/// A 4-D NHWC array, whose NCHW shape is `s`, in NCHW order.
pub fn nhwc_to_nchw<T: Copy + Default>(v: &[T], s: &[usize]) -> Vec<T> {
    let (c, hw) = (s[1], s[2] * s[3]);
    let mut out = vec![T::default(); v.len()];
    if c * hw > 0 {
        for (src, dst) in v.chunks_exact(c * hw).zip(out.chunks_exact_mut(c * hw)) {
            transpose(src, hw, c, dst);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_moves_channels_last() {
        let s = [2, 37, 5, 9];
        let v: Vec<u32> = (0..s.iter().product::<usize>() as u32).collect();
        let nhwc = nchw_to_nhwc(&v, &s);
        let (c, hw) = (s[1], s[2] * s[3]);
        for b in 0..s[0] {
            for ch in 0..c {
                for p in 0..hw {
                    assert_eq!(nhwc[(b * hw + p) * c + ch], v[(b * c + ch) * hw + p]);
                }
            }
        }
        assert_eq!(nhwc_to_nchw(&nhwc, &s), v);
    }
}
