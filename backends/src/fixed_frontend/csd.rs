//! Canonical signed-digit (CSD) recoding of constant multipliers: `c = Σ sᵢ·2^kᵢ` with
//! digits in {−1, 0, +1} and no two adjacent non-zero digits, the fewest non-zero digits
//! of any signed-binary form. A constant multiply becomes one shifted add or subtract per
//! digit (`x·239 = (x≪8) − (x≪4) − x`).

/// One non-zero digit: `sign · 2^shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digit {
    pub negative: bool,
    pub shift: u32,
}

/// The CSD digits of `c`, lowest shift first (empty for zero).
pub fn csd(c: i64) -> Vec<Digit> {
    let mut digits = Vec::new();
    let mut v = c as i128;
    let mut shift = 0;
    while v != 0 {
        if v & 1 != 0 {
            // v mod 4 = 1 → digit +1, v mod 4 = 3 → digit −1 (so the next bit is zero).
            let negative = v & 3 == 3;
            digits.push(Digit { negative, shift });
            v -= if negative { -1 } else { 1 };
        }
        v >>= 1;
        shift += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value the digits stand for.
    fn value(digits: &[Digit]) -> i128 {
        digits
            .iter()
            .map(|d| (1i128 << d.shift) * if d.negative { -1 } else { 1 })
            .sum()
    }

    #[test]
    fn csd_round_trips_and_has_no_adjacent_digits() {
        let mut cases: Vec<i64> = (-600..=600).collect();
        cases.extend([
            i32::MAX as i64,
            i32::MIN as i64,
            1 << 30,
            (1 << 31) - 1,
            1_518_500_250,
        ]);
        for c in cases {
            let d = csd(c);
            assert_eq!(value(&d), c as i128, "{c}");
            for pair in d.windows(2) {
                assert!(pair[1].shift > pair[0].shift + 1, "{c}: adjacent digits");
            }
            // Never more digits than binary ones.
            assert!(
                d.len() as u32 <= c.unsigned_abs().count_ones().max(1),
                "{c}"
            );
        }
        assert_eq!(
            csd(239),
            vec![
                Digit {
                    negative: true,
                    shift: 0
                },
                Digit {
                    negative: true,
                    shift: 4
                },
                Digit {
                    negative: false,
                    shift: 8
                },
            ]
        );
    }
}
