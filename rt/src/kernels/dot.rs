//! The multiply-accumulate core of convolutions and fully connected layers: dot products
//! of a few rows of centered inputs (output pixels' gathered taps, or fully connected
//! rows) with every row of int8 weights (one per output channel), in wrapping i32.
//!
//! Rows are `i16` when the inputs have 8 bits, padded with zeros to a multiple of
//! [`LANES`]; the AVX2 kernel then takes sixteen products per `vpmaddwd` pair of
//! instructions and reuses each weight vector for every row of the tile. Weights are read
//! in place (OHWI rows, no packing): a row's last vector may read into the next row,
//! where the zero padding of the inputs cancels it. Wrapping sums are exact in any order,
//! so every path gives the same bits.

/// Rows per tile: every weight vector loaded serves this many output pixels.
pub const ROWS: usize = 4;
/// Padding multiple of `i16` rows: the AVX2 kernel's vector width.
pub const LANES: usize = 16;

/// A centered input value: `i16` for 8-bit inputs (differences of 8-bit codes and an
/// in-range zero point fit), else `i32`.
pub trait Tap: crate::scratch::Plain {
    /// The multiple rows are padded to.
    const PAD: usize;
    fn of(v: i32) -> Self;

    /// `out[r * n + j] = sum_i rows[r * stride + i] * w[j * k + i]` for `r < count` and
    /// `j < n`; rows are zero from `k` to `stride`.
    fn dots(
        rows: &[Self],
        stride: usize,
        count: usize,
        w: &[u8],
        kn: (usize, usize),
        out: &mut [i32],
    );
}

impl Tap for i16 {
    const PAD: usize = LANES;

    #[inline(always)]
    fn of(v: i32) -> Self {
        v as i16
    }

    #[inline]
    fn dots(
        rows: &[i16],
        stride: usize,
        count: usize,
        w: &[u8],
        kn: (usize, usize),
        out: &mut [i32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2() {
            // SAFETY: the CPU has AVX2.
            unsafe { avx2::dots(rows, stride, count, w, kn, out) };
            return;
        }
        plain_dots(rows, stride, count, w, kn, out);
    }
}

impl Tap for i32 {
    const PAD: usize = 1;

    #[inline(always)]
    fn of(v: i32) -> Self {
        v
    }

    #[inline]
    fn dots(
        rows: &[i32],
        stride: usize,
        count: usize,
        w: &[u8],
        kn: (usize, usize),
        out: &mut [i32],
    ) {
        plain_dots(rows, stride, count, w, kn, out);
    }
}

/// The portable kernel: one dot product per row and weight row.
#[inline(always)]
fn plain_dots<T: Tap + Into<i32>>(
    rows: &[T],
    stride: usize,
    count: usize,
    w: &[u8],
    (k, n): (usize, usize),
    out: &mut [i32],
) {
    for r in 0..count {
        let x = &rows[r * stride..][..k];
        for (j, o) in out[r * n..(r + 1) * n].iter_mut().enumerate() {
            let wr = &w[j * k..(j + 1) * k];
            *o = x.iter().zip(wr).fold(0i32, |a, (&x, &w)| {
                a.wrapping_add(x.into().wrapping_mul(w as i8 as i32))
            });
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{LANES, ROWS};
    use core::arch::x86_64::*;

    /// [`super::Tap::dots`] for `i16` rows (`stride` a multiple of [`LANES`]).
    #[target_feature(enable = "avx2")]
    pub(super) fn dots(
        rows: &[i16],
        stride: usize,
        count: usize,
        w: &[u8],
        (k, n): (usize, usize),
        out: &mut [i32],
    ) {
        assert!(
            stride.is_multiple_of(LANES)
                && stride >= k
                && w.len() >= k * n
                && (1..=ROWS).contains(&count)
                && rows.len() >= count * stride
                && out.len() >= count * n,
            "dot tile out of bounds"
        );
        match count {
            4 => tile::<4, 2>(rows, stride, w, k, n, out),
            3 => tile::<3, 2>(rows, stride, w, k, n, out),
            2 => tile::<2, 4>(rows, stride, w, k, n, out),
            _ => tile::<1, 8>(rows, stride, w, k, n, out),
        }
    }

    /// `R` rows against all `n` weight rows, `C` at a time.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn tile<const R: usize, const C: usize>(
        rows: &[i16],
        stride: usize,
        w: &[u8],
        k: usize,
        n: usize,
        out: &mut [i32],
    ) {
        let mut j = 0;
        while j + C <= n {
            block::<R, C>(rows, stride, w, k, j, n, out);
            j += C;
        }
        while j < n {
            block::<R, 1>(rows, stride, w, k, j, n, out);
            j += 1;
        }
    }

    /// Weight rows `j0..j0 + C` against `R` rows: sixteen lanes of partial sums per pair,
    /// reduced at the end.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn block<const R: usize, const C: usize>(
        rows: &[i16],
        stride: usize,
        w: &[u8],
        k: usize,
        j0: usize,
        n: usize,
        out: &mut [i32],
    ) {
        const { assert!(R * C <= 8) };
        assert!(rows.len() >= R * stride && w.len() >= (j0 + C) * k);
        let (xp, wp) = (rows.as_ptr(), w.as_ptr());
        let mut acc = [[_mm256_setzero_si256(); C]; R];
        let mut step = |v: usize, wv: [__m128i; C]| {
            let wv = wv.map(|w| _mm256_cvtepi8_epi16(w));
            for (r, ar) in acc.iter_mut().enumerate() {
                // SAFETY: row r has `stride` values, of which v * LANES + LANES.
                let x = unsafe { _mm256_loadu_si256(xp.add(r * stride + v * LANES) as *const _) };
                for (a, &wc) in ar.iter_mut().zip(&wv) {
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, wc));
                }
            }
        };
        // Vectors wholly inside their weight rows, then the row tails.
        let full = k / LANES;
        for v in 0..full {
            let wv = core::array::from_fn(|c| {
                // SAFETY: row j0 + c holds bytes v * LANES..(v + 1) * LANES <= k.
                unsafe { _mm_loadu_si128(wp.add((j0 + c) * k + v * LANES) as *const _) }
            });
            step(v, wv);
        }
        if full * LANES < stride {
            step(
                full,
                core::array::from_fn(|c| weights(w, (j0 + c) * k + full * LANES)),
            );
        }
        let mut lanes = [_mm256_setzero_si256(); 8];
        for (r, ar) in acc.iter().enumerate() {
            lanes[r * C..(r + 1) * C].copy_from_slice(ar);
        }
        let mut sums = [0i32; 8];
        // SAFETY: eight values.
        unsafe { _mm256_storeu_si256(sums.as_mut_ptr() as *mut __m256i, sum8(&lanes)) };
        for r in 0..R {
            out[r * n + j0..][..C].copy_from_slice(&sums[r * C..(r + 1) * C]);
        }
    }

    /// Sixteen weights from byte `at`: in place when inside `w`, else the bytes that are
    /// (past a row's end the inputs are zero, so the missing bytes' value is irrelevant).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn weights(w: &[u8], at: usize) -> __m128i {
        if let Some(v) = w.get(at..at + LANES) {
            // SAFETY: sixteen bytes.
            unsafe { _mm_loadu_si128(v.as_ptr() as *const __m128i) }
        } else {
            let mut b = [0u8; LANES];
            let tail = w.get(at..).unwrap_or(&[]);
            b[..tail.len()].copy_from_slice(tail);
            // SAFETY: sixteen bytes.
            unsafe { _mm_loadu_si128(b.as_ptr() as *const __m128i) }
        }
    }

    /// The total of each of eight vectors, in order.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn sum8(v: &[__m256i; 8]) -> __m256i {
        let t0 = _mm256_hadd_epi32(v[0], v[1]);
        let t1 = _mm256_hadd_epi32(v[2], v[3]);
        let t2 = _mm256_hadd_epi32(v[4], v[5]);
        let t3 = _mm256_hadd_epi32(v[6], v[7]);
        // Per 128-bit half: the half-sums of v0..v3 and of v4..v7.
        let (u0, u1) = (_mm256_hadd_epi32(t0, t1), _mm256_hadd_epi32(t2, t3));
        _mm256_add_epi32(
            _mm256_permute2x128_si256(u0, u1, 0x20),
            _mm256_permute2x128_si256(u0, u1, 0x31),
        )
    }
}
