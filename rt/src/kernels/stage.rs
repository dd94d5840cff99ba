//! The int32-to-integer output stage of convolutions and fully connected layers, a row of
//! consecutive channels at a time:
//! `clamp(MultiplyByQuantizedMultiplier(acc + bias[c], multiplier[c], shift[c]) + zp)`,
//! TFLite's reference arithmetic, eight channels at a time with AVX2.

use crate::fixedpoint::multiply_by_quantized_multiplier;

/// Per-channel bias, fixed-point multiplier and shift (in `-31..=31`), the output zero
/// point and the inclusive clamp range, for channels `0..bias.len()`.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage<'a> {
    pub bias: &'a [i32],
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub zero_point: i32,
    pub range: (i32, i32),
}

impl<'a> OutputStage<'a> {
    /// The stage of channels `c0..`.
    pub fn from_channel(&self, c0: usize) -> OutputStage<'a> {
        OutputStage {
            bias: &self.bias[c0..],
            multiplier: &self.multiplier[c0..],
            shift: &self.shift[c0..],
            ..*self
        }
    }

    /// The output value of accumulator `acc` of channel `c`.
    #[inline(always)]
    pub fn apply(&self, acc: i32, c: usize) -> i32 {
        multiply_by_quantized_multiplier(
            acc.wrapping_add(self.bias[c]),
            self.multiplier[c],
            self.shift[c],
        )
        .wrapping_add(self.zero_point)
        .clamp(self.range.0, self.range.1)
    }

    /// `v[i] = apply(v[i], i)` for the accumulators of channels `0..v.len()`, which the
    /// stage must cover.
    #[inline]
    pub fn apply_row(&self, v: &mut [i32]) {
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if v.len() >= 8 && crate::simd::avx2() {
            done = v.len() / 8 * 8;
            // SAFETY: AVX2 is available.
            unsafe { avx2::apply(self, &mut v[..done]) };
        }
        for (i, x) in v.iter_mut().enumerate().skip(done) {
            *x = self.apply(*x, i);
        }
    }
}

/// `v[i] = MultiplyByQuantizedMultiplier(v[i], multiplier, shift)` for every value (the
/// scalar-parameter form elementwise kernels use), eight at a time with AVX2.
pub fn multiply_by_quantized_multiplier_row(v: &mut [i32], multiplier: i32, shift: i32) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if (-31..=31).contains(&shift) && crate::simd::avx2() {
        done = v.len() / 8 * 8;
        // SAFETY: AVX2 is available.
        unsafe { avx2::multiply_row(&mut v[..done], multiplier, shift) };
    }
    for x in &mut v[done..] {
        *x = multiply_by_quantized_multiplier(*x, multiplier, shift);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::OutputStage;
    use core::arch::x86_64::*;

    /// Eight lanes at a time, in place; `v.len()` is a multiple of eight and the stage
    /// covers it.
    #[target_feature(enable = "avx2")]
    pub(super) fn apply(q: &OutputStage<'_>, v: &mut [i32]) {
        let n = v.len();
        let (bias, mul, shift) = (&q.bias[..n], &q.multiplier[..n], &q.shift[..n]);
        let load = |s: &[i32], i: usize| {
            let s = &s[i..i + 8];
            // SAFETY: eight values.
            unsafe { _mm256_loadu_si256(s.as_ptr() as *const __m256i) }
        };
        let zp = _mm256_set1_epi32(q.zero_point);
        let (lo, hi) = (_mm256_set1_epi32(q.range.0), _mm256_set1_epi32(q.range.1));
        for (i, chunk) in v.chunks_exact_mut(8).enumerate() {
            let p = chunk.as_mut_ptr() as *mut __m256i;
            // SAFETY: eight values.
            let a = unsafe { _mm256_loadu_si256(p) };
            let x = _mm256_add_epi32(a, load(bias, 8 * i));
            let r = multiply_by_quantized_multiplier(x, load(mul, 8 * i), load(shift, 8 * i));
            let r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), lo), hi);
            // SAFETY: eight values.
            unsafe { _mm256_storeu_si256(p, r) };
        }
    }

    /// `v[i] = MultiplyByQuantizedMultiplier(v[i], multiplier, shift)`, in place; `v.len()`
    /// is a multiple of eight.
    #[target_feature(enable = "avx2")]
    pub(super) fn multiply_row(v: &mut [i32], multiplier: i32, shift: i32) {
        let (m, s) = (_mm256_set1_epi32(multiplier), _mm256_set1_epi32(shift));
        for chunk in v.chunks_exact_mut(8) {
            let p = chunk.as_mut_ptr() as *mut __m256i;
            // SAFETY: eight values.
            unsafe {
                _mm256_storeu_si256(
                    p,
                    multiply_by_quantized_multiplier(_mm256_loadu_si256(p), m, s),
                )
            };
        }
    }

    /// TFLite's MultiplyByQuantizedMultiplier per lane, shifts in `-31..=31`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn multiply_by_quantized_multiplier(
        x: __m256i,
        multiplier: __m256i,
        shift: __m256i,
    ) -> __m256i {
        let zero = _mm256_setzero_si256();
        let left = _mm256_max_epi32(shift, zero);
        let right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
        let x = _mm256_sllv_epi32(x, left);
        rounding_divide_by_pot(srdhm(x, multiplier), right)
    }

    /// gemmlowp's SaturatingRoundingDoublingHighMul per 32-bit lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn srdhm(a: __m256i, b: __m256i) -> __m256i {
        let even = high_half(_mm256_mul_epi32(a, b));
        let odd = high_half(_mm256_mul_epi32(
            _mm256_srli_epi64(a, 32),
            _mm256_srli_epi64(b, 32),
        ));
        let v = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0b1010_1010);
        let min = _mm256_set1_epi32(i32::MIN);
        let overflow = _mm256_and_si256(_mm256_cmpeq_epi32(a, min), _mm256_cmpeq_epi32(b, min));
        _mm256_blendv_epi8(v, _mm256_set1_epi32(i32::MAX), overflow)
    }

    /// gemmlowp's `(ab + nudge) / 2^31` (nudge `2^30` for `ab >= 0`, else `1 - 2^30`;
    /// truncating) of four i64 products, in their low 32 bits. For negative `ab` the
    /// truncation rounds up, which makes it `floor((ab + 2^30) / 2^31)` in both cases; the
    /// quotient fits in 32 bits (the caller handles the one overflow), so a logical shift
    /// gives the low half of the arithmetic one.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn high_half(ab: __m256i) -> __m256i {
        _mm256_srli_epi64(_mm256_add_epi64(ab, _mm256_set1_epi64x(1 << 30)), 31)
    }

    /// gemmlowp's RoundingDivideByPOT per lane, exponents in `0..=31`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn rounding_divide_by_pot(x: __m256i, exponent: __m256i) -> __m256i {
        let one = _mm256_set1_epi32(1);
        let zero = _mm256_setzero_si256();
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, exponent), one);
        let remainder = _mm256_and_si256(x, mask);
        let threshold = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_cmpgt_epi32(zero, x));
        let up = _mm256_cmpgt_epi32(remainder, threshold);
        _mm256_sub_epi32(_mm256_srav_epi32(x, exponent), up)
    }
}
