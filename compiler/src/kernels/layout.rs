//! Channel-first and channel-last orders of 4-D arrays, for kernels that run NHWC.

/// A 4-D NCHW (or OIHW) array in NHWC (OHWI) order.
pub fn nchw_to_nhwc<T: Copy + Default>(v: &[T], s: &[usize]) -> Vec<T> {
    let (n, c, hw) = (s[0], s[1], s[2] * s[3]);
    let mut out = vec![T::default(); v.len()];
    for b in 0..n {
        for ch in 0..c {
            for p in 0..hw {
                out[(b * hw + p) * c + ch] = v[(b * c + ch) * hw + p];
            }
        }
    }
    out
}

/// A 4-D NHWC array, whose NCHW shape is `s`, in NCHW order.
pub fn nhwc_to_nchw<T: Copy + Default>(v: &[T], s: &[usize]) -> Vec<T> {
    let (n, c, hw) = (s[0], s[1], s[2] * s[3]);
    let mut out = vec![T::default(); v.len()];
    for b in 0..n {
        for ch in 0..c {
            for p in 0..hw {
                out[(b * c + ch) * hw + p] = v[(b * hw + p) * c + ch];
            }
        }
    }
    out
}
