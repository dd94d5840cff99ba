//! The requantization multiplier built in hardware: the fewest leading signed digits of
//! TFLite's Q31 multiplier that give every output code the full multiplier gives, over
//! every accumulator value the channel can reach. The output is clamped to eight bits and
//! rounded, so its low digits rarely matter; what is built is proven equal, not
//! approximated.
//!
//! With a positive multiplier and no overflow in the left shift, the output stage is a
//! non-decreasing step function of the accumulator (the rounding high multiply, the
//! rounding shift, the zero point and the clamp each are), so two multipliers agree
//! everywhere exactly when each output code starts at the same accumulator value: 255
//! binary searches. Otherwise small ranges are checked value by value.

use super::csd::csd;
use nnopt_compiler::interp::fixedpoint::multiply_by_quantized_multiplier;

/// Largest accumulator range checked value by value (on each side of zero) when the
/// stage is not monotone; wider channels keep the full multiplier.
const MAX_CHECKED: i64 = 1 << 20;

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
        if !self.monotone(bound) && bound > MAX_CHECKED {
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

    /// Whether the stage is non-decreasing in the accumulator over `-bound..=bound` for
    /// every positive multiplier: a positive multiplier and a left shift that cannot wrap.
    fn monotone(&self, bound: i64) -> bool {
        let left = self.shift.max(0) as u32;
        self.multiplier > 0
            && bound
                .checked_shl(left)
                .is_some_and(|b| b <= i32::MAX as i64)
    }

    /// Whether `candidate` gives the same output as the multiplier for every accumulator
    /// in `-bound..=bound`.
    fn same_outputs(&self, candidate: i32, bound: i64) -> bool {
        if self.monotone(bound) && candidate > 0 {
            let (lo, hi) = self.range;
            return (lo + 1..=hi).all(|v| {
                self.first_reaching(v, self.multiplier, bound)
                    == self.first_reaching(v, candidate, bound)
            });
        }
        if bound > MAX_CHECKED {
            return false;
        }
        let bound = bound as i32;
        (-bound..=bound).all(|acc| self.output(acc, candidate) == self.output(acc, self.multiplier))
    }

    /// The smallest accumulator in `-bound..=bound` whose output is at least `v` with
    /// multiplier `m` (the stage being non-decreasing), if any.
    fn first_reaching(&self, v: i32, m: i32, bound: i64) -> Option<i64> {
        let (mut lo, mut hi) = (-bound, bound);
        if self.output(hi as i32, m) < v {
            return None;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.output(mid as i32, m) >= v {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
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
        // A stage that may wrap (a left shift) beyond the checked range keeps the full
        // multiplier; a monotone one is checked at any range.
        let wrapping = OutputStage { shift: 12, ..stage };
        assert_eq!(
            wrapping.hardware_multiplier(MAX_CHECKED + 1),
            stage.multiplier
        );
        let wide = stage.hardware_multiplier(i32::MAX as i64);
        for acc in (i32::MIN + 1..i32::MAX).step_by(9973) {
            assert_eq!(
                stage.output(acc, wide),
                stage.output(acc, stage.multiplier),
                "{acc}"
            );
        }
    }
}
