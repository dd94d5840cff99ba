//! The int32-to-int8 output stage of integer convolution and fully connected layers:
//! `clamp(MultiplyByQuantizedMultiplier(acc + bias[c], multiplier[c], shift[c]) + zp)`,
//! TFLite's reference arithmetic, eight channels at a time with AVX2.

use crate::interp::fixedpoint::multiply_by_quantized_multiplier;
use crate::{bail, Result};

/// Bias, per-channel fixed-point multiplier and shift, output zero point and clamp range.
#[derive(Clone, Copy, Debug)]
pub struct Requantize<'a> {
    pub bias: &'a [i32],
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub zero_point: i32,
    /// Inclusive output range (the fused activation's, within the output type's).
    pub range: (i32, i32),
}

impl Requantize<'_> {
    /// Checks that the stage covers `channels` output channels with shifts TFLite's
    /// arithmetic defines (`-31..=31`).
    pub fn check(&self, channels: usize) -> Result<()> {
        if self.bias.len() != channels
            || self.multiplier.len() != channels
            || self.shift.len() != channels
        {
            bail!("requantization parameters do not cover {channels} channels");
        }
        if let Some(s) = self.shift.iter().find(|s| !(-31..=31).contains(*s)) {
            bail!("requantization shift {s} is outside -31..=31");
        }
        Ok(())
    }

    /// The output value of accumulator `acc` of channel `c`.
    #[inline]
    pub fn apply(&self, acc: i32, c: usize) -> i32 {
        multiply_by_quantized_multiplier(
            acc.wrapping_add(self.bias[c]),
            self.multiplier[c],
            self.shift[c],
        )
        .wrapping_add(self.zero_point)
        .clamp(self.range.0, self.range.1)
    }

    /// `v[i] = apply(v[i], c0 + i)` for the accumulators of a run of consecutive
    /// channels.
    #[inline]
    pub fn apply_row(&self, v: &mut [i32], c0: usize) {
        let n = v.len();
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if n >= 8 && std::arch::is_x86_feature_detected!("avx2") {
            done = n / 8 * 8;
            // SAFETY: AVX2 is available; the stage holds c0 + done channels (`check`).
            unsafe { avx2::apply(self, &mut v[..done], c0) };
        }
        for (i, x) in v.iter_mut().enumerate().skip(done) {
            *x = self.apply(*x, c0 + i);
        }
    }
}

/// `v[i] = MultiplyByQuantizedMultiplier(v[i], multiplier, shift)` for every value (the
/// scalar-parameter form elementwise kernels use), eight at a time with AVX2.
pub fn multiply_by_quantized_multiplier_row(v: &mut [i32], multiplier: i32, shift: i32) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if (-31..=31).contains(&shift) && std::arch::is_x86_feature_detected!("avx2") {
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
    use super::Requantize;
    use std::arch::x86_64::*;

    /// Eight lanes at a time, in place; `v.len()` is a multiple of eight.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn apply(q: &Requantize<'_>, v: &mut [i32], c0: usize) {
        let load = |s: &[i32], i: usize| {
            let s = &s[c0 + i..c0 + i + 8];
            // SAFETY: eight values.
            unsafe { _mm256_loadu_si256(s.as_ptr() as *const __m256i) }
        };
        let zp = _mm256_set1_epi32(q.zero_point);
        let (lo, hi) = (_mm256_set1_epi32(q.range.0), _mm256_set1_epi32(q.range.1));
        for i in (0..v.len()).step_by(8) {
            let a = _mm256_loadu_si256(v[i..i + 8].as_ptr() as *const __m256i);
            let x = _mm256_add_epi32(a, load(q.bias, i));
            let r = multiply_by_quantized_multiplier(x, load(q.multiplier, i), load(q.shift, i));
            let r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), lo), hi);
            _mm256_storeu_si256(v[i..i + 8].as_mut_ptr() as *mut __m256i, r);
        }
    }

    /// `v[i] = MultiplyByQuantizedMultiplier(v[i], multiplier, shift)`, in place; `v.len()`
    /// is a multiple of eight.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn multiply_row(v: &mut [i32], multiplier: i32, shift: i32) {
        let (m, s) = (_mm256_set1_epi32(multiplier), _mm256_set1_epi32(shift));
        for chunk in v.chunks_exact_mut(8) {
            let p = chunk.as_mut_ptr() as *mut __m256i;
            _mm256_storeu_si256(
                p,
                multiply_by_quantized_multiplier(_mm256_loadu_si256(p), m, s),
            );
        }
    }

    /// TFLite's MultiplyByQuantizedMultiplier per lane, shifts in `-31..=31`.
    #[target_feature(enable = "avx2")]
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

    /// `(ab + nudge) / 2^31` (truncating) of four i64 products, in their low 32 bits.
    #[target_feature(enable = "avx2")]
    fn high_half(ab: __m256i) -> __m256i {
        let zero = _mm256_setzero_si256();
        let negative = _mm256_cmpgt_epi64(zero, ab);
        let nudge = _mm256_blendv_epi8(
            _mm256_set1_epi64x(1 << 30),
            _mm256_set1_epi64x(1 - (1 << 30)),
            negative,
        );
        let t = _mm256_add_epi64(ab, nudge);
        // Truncating division by 2^31: add 2^31 - 1 to negative numerators, then shift;
        // the quotient fits in 32 bits, so a logical shift gives its low half.
        let round = _mm256_and_si256(
            _mm256_cmpgt_epi64(zero, t),
            _mm256_set1_epi64x((1 << 31) - 1),
        );
        _mm256_srli_epi64(_mm256_add_epi64(t, round), 31)
    }

    /// gemmlowp's RoundingDivideByPOT per lane, exponents in `0..=31`.
    #[target_feature(enable = "avx2")]
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    /// Owned parameters of a random output stage with realistic multipliers.
    pub(crate) struct StageParams {
        bias: Vec<i32>,
        multiplier: Vec<i32>,
        shift: Vec<i32>,
    }

    impl StageParams {
        pub(crate) fn stage(&self) -> Requantize<'_> {
            Requantize {
                bias: &self.bias,
                multiplier: &self.multiplier,
                shift: &self.shift,
                zero_point: -3,
                range: (-128, 127),
            }
        }
    }

    pub(crate) fn test_stage(rng: &mut rand::rngs::Xoshiro256PlusPlus, n: usize) -> StageParams {
        StageParams {
            bias: (0..n).map(|_| rng.random_range(-5000..=5000)).collect(),
            multiplier: (0..n)
                .map(|_| rng.random_range(1 << 30..i32::MAX))
                .collect(),
            shift: (0..n).map(|_| rng.random_range(-20..=2)).collect(),
        }
    }

    /// The vector path against the scalar reference on random and extreme values.
    #[test]
    fn rows_match_the_scalar_stage() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(11);
        let n = 67;
        let extremes = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
        let pick = |rng: &mut rand::rngs::Xoshiro256PlusPlus, k: usize| {
            if k.is_multiple_of(5) {
                extremes[k % extremes.len()]
            } else {
                rng.random::<i32>()
            }
        };
        for round in 0..50 {
            let bias: Vec<i32> = (0..n).map(|k| pick(&mut rng, k + round)).collect();
            let multiplier: Vec<i32> = (0..n).map(|k| pick(&mut rng, k * 3 + round)).collect();
            let shift: Vec<i32> = (0..n).map(|_| rng.random_range(-31..=31)).collect();
            let acc: Vec<i32> = (0..n).map(|k| pick(&mut rng, k * 7 + round)).collect();
            let q = Requantize {
                bias: &bias,
                multiplier: &multiplier,
                shift: &shift,
                zero_point: rng.random_range(-128..=127),
                range: (-128, 127),
            };
            q.check(n).unwrap();
            let mut got = acc.clone();
            q.apply_row(&mut got, 0);
            let want: Vec<i32> = (0..n).map(|i| q.apply(acc[i], i)).collect();
            assert_eq!(got, want, "round {round}");
            let (m, sh) = (multiplier[round], shift[round]);
            let mut row = acc.clone();
            multiply_by_quantized_multiplier_row(&mut row, m, sh);
            let want: Vec<i32> = acc
                .iter()
                .map(|&a| multiply_by_quantized_multiplier(a, m, sh))
                .collect();
            assert_eq!(row, want, "row, round {round}");
        }
    }
}
