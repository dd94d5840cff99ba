//! The int32-to-int8 output stage of integer convolution and fully connected layers:
//! `clamp(MultiplyByQuantizedMultiplier(acc + bias[c], multiplier[c], shift[c]) + zp)`,
//! TFLite's reference arithmetic (rows through the firmware runtime's stage).

use crate::{bail, Result};
pub use nnopt_rt::kernels::stage::multiply_by_quantized_multiplier_row;
use nnopt_rt::kernels::stage::OutputStage;

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
        self.stage_from(c).apply(acc, 0)
    }

    /// `v[i] = apply(v[i], c0 + i)` for the accumulators of a run of consecutive
    /// channels (the firmware runtime's row stage: eight channels at a time with AVX2).
    #[inline]
    pub fn apply_row(&self, v: &mut [i32], c0: usize) {
        self.stage_from(c0).apply_row(v);
    }

    /// The runtime's stage of channels `c0..`.
    fn stage_from(&self, c0: usize) -> OutputStage<'_> {
        OutputStage {
            bias: &self.bias[c0..],
            multiplier: &self.multiplier[c0..],
            shift: &self.shift[c0..],
            zero_point: self.zero_point,
            range: self.range,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::interp::fixedpoint::multiply_by_quantized_multiplier;
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
