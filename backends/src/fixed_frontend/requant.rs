//! The requantization multiplier built in hardware: the fewest leading signed digits of
//! TFLite's Q31 multiplier that give every output code the full multiplier gives, checked
//! exhaustively over every accumulator value the channel can reach. The output is
//! clamped to eight bits and rounded, so its low digits rarely matter; what is built is
//! proven equal, not approximated.

use super::csd::csd;
use nnopt_compiler::interp::fixedpoint::multiply_by_quantized_multiplier;

/// Largest accumulator range checked exhaustively (values on each side of zero); wider
/// channels keep the full multiplier.
const MAX_CHECKED: i64 = 1 << 22;

/// One channel's output stage: `clamp(zp + MultiplyByQuantizedMultiplier(acc, m, shift))`.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage {
    pub multiplier: i32,
    pub shift: i32,
    pub zero_point: i32,
    pub range: (i32, i32),
}

impl OutputStage {
    /// The output code of accumulator `acc` with multiplier `m`.
    fn output(&self, acc: i32, m: i32) -> i32 {
        multiply_by_quantized_multiplier(acc, m, self.shift)
            .wrapping_add(self.zero_point)
            .clamp(self.range.0, self.range.1)
    }

    /// The multiplier to build for accumulators in `-bound..=bound`: the shortest prefix
    /// (highest digits first) of the multiplier's signed digits that changes no output.
    pub fn hardware_multiplier(&self, bound: i64) -> i32 {
        let m = self.multiplier;
        if bound > MAX_CHECKED {
            return m;
        }
        let mut digits = csd(m as i64);
        digits.reverse();
        let mut prefix = 0i64;
        for d in &digits {
            prefix += (1i64 << d.shift) * if d.negative { -1 } else { 1 };
            let Ok(candidate) = i32::try_from(prefix) else {
                continue;
            };
            if candidate == m || self.same_outputs(candidate, bound) {
                return candidate;
            }
        }
        m
    }

    /// Whether `candidate` gives the same output as the multiplier for every accumulator
    /// in `-bound..=bound`.
    fn same_outputs(&self, candidate: i32, bound: i64) -> bool {
        let bound = bound as i32;
        (-bound..=bound).all(|acc| self.output(acc, candidate) == self.output(acc, self.multiplier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_multiplier_changes_no_output() {
        let stage = OutputStage {
            multiplier: 1_518_500_250,
            shift: -9,
            zero_point: -128,
            range: (-128, 127),
        };
        let bound = 40_000;
        let m = stage.hardware_multiplier(bound);
        assert!(
            csd(m as i64).len() < csd(stage.multiplier as i64).len(),
            "{m}"
        );
        for acc in -bound as i32..=bound as i32 {
            assert_eq!(
                stage.output(acc, m),
                stage.output(acc, stage.multiplier),
                "{acc}"
            );
        }
        // Beyond the checked range the full multiplier is kept.
        assert_eq!(stage.hardware_multiplier(MAX_CHECKED + 1), stage.multiplier);
    }
}
