//! TFLite's fixed-point arithmetic (gemmlowp's scalar `fixedpoint.h` and TFLite's
//! `quantization_util`/`common.h`), reproduced operation for operation so that integer
//! kernels round exactly like LiteRT's reference kernels (double-rounding build, the
//! default: `TFLITE_SINGLE_ROUNDING` unset). The compiler's interpreter uses these same
//! functions.

/// gemmlowp `SaturatingRoundingDoublingHighMul` on int32.
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == b && a == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge = if ab >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `SaturatingRoundingDoublingHighMul` on int16.
pub fn srdhm16(a: i16, b: i16) -> i16 {
    if a == b && a == i16::MIN {
        return i16::MAX;
    }
    let ab = a as i32 * b as i32;
    let nudge = if ab >= 0 {
        1i32 << 14
    } else {
        1 - (1i32 << 14)
    };
    ((ab + nudge) / (1i32 << 15)) as i16
}

/// gemmlowp `RoundingDivideByPOT` on int32: divides by `2^exponent`, rounding half away
/// from zero.
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// gemmlowp `RoundingDivideByPOT` on int16.
pub fn rounding_divide_by_pot16(x: i16, exponent: i32) -> i16 {
    let mask = ((1i32 << exponent) - 1) as i16;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i16::from(x < 0);
    (x >> exponent) + i16::from(remainder > threshold)
}

/// TFLite `MultiplyByQuantizedMultiplier(int32 x, multiplier, shift)`.
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    rounding_divide_by_pot(srdhm(x.wrapping_mul(1i32 << left), multiplier), right)
}

/// TFLite `MultiplyByQuantizedMultiplierGreaterThanOne`.
pub fn multiply_by_quantized_multiplier_gt_one(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    srdhm(x.wrapping_mul(1i32 << left_shift), multiplier)
}

/// gemmlowp `SaturatingRoundingMultiplyByPOT<exponent>` on int32.
pub fn saturating_rounding_mul_by_pot(x: i32, exponent: i32) -> i32 {
    match exponent {
        0 => x,
        e if e > 0 => {
            let threshold = (1i32 << (31 - e)) - 1;
            if x > threshold {
                i32::MAX
            } else if x < -threshold {
                i32::MIN
            } else {
                x.wrapping_shl(e as u32)
            }
        }
        e => rounding_divide_by_pot(x, -e),
    }
}

/// gemmlowp `RoundingHalfSum` on int32.
fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `FixedPoint<int32, 0>::One()` and friends, as raw values.
const F0_ONE: i32 = i32::MAX;

/// Rescales a raw fixed-point value from `src_bits` to `dst_bits` integer bits.
pub fn rescale(x: i32, src_bits: i32, dst_bits: i32) -> i32 {
    saturating_rounding_mul_by_pot(x, src_bits - dst_bits)
}

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in and out).
fn exp_on_interval_neg_quarter_0(a: i32) -> i32 {
    let constant_term: i32 = 1895147668;
    let constant_1_over_3 = 715827883;
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = saturating_rounding_mul_by_pot(x4, -2);
    let poly = saturating_rounding_mul_by_pot(
        srdhm(x4_over_4.wrapping_add(x3), constant_1_over_3).wrapping_add(x2),
        -1,
    );
    constant_term.wrapping_add(srdhm(constant_term, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values` for a Q(int_bits).(31-int_bits) input; returns Q0.31.
pub fn exp_on_negative_values(a: i32, int_bits: i32) -> i32 {
    let frac_bits = 31 - int_bits;
    let one_quarter = 1i32 << (frac_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result =
        exp_on_interval_neg_quarter_0(rescale(a_mod_quarter_minus_one_quarter, int_bits, 0));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    const BARREL: [(i32, i32); 7] = [
        (-2, 1672461947),
        (-1, 1302514674),
        (0, 790015084),
        (1, 290630308),
        (2, 39332535),
        (3, 720401),
        (4, 242),
    ];
    for (exponent, multiplier) in BARREL {
        if int_bits > exponent {
            let shift = frac_bits + exponent;
            if remainder & (1i32 << shift) != 0 {
                result = srdhm(result, multiplier);
            }
        }
    }
    if int_bits > 5 {
        let clamp = -(1i32 << (36 - int_bits));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = F0_ONE;
    }
    result
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out).
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let half_denominator = rounding_half_sum(a, F0_ONE);
    let constant_48_over_17: i32 = 1515870810;
    let constant_neg_32_over_17 = -1010580540;
    let f2_one = 1i32 << 29;
    let mut x = constant_48_over_17.wrapping_add(srdhm(half_denominator, constant_neg_32_over_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x);
        let one_minus = f2_one.wrapping_sub(half_denominator_times_x);
        x = x.wrapping_add(rescale(srdhm(x, one_minus), 4, 2));
    }
    // ExactMulByPot<-1> turns Q2.29 into Q1.30 with the same raw value.
    rescale(x, 1, 0)
}

/// TFLite `GetReciprocal`: `1 / x` for a Q(x_integer_digits) value; returns the Q0.31
/// reciprocal of the normalized value and the number of bits it was shifted by.
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one =
        ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

/// TFLite `CalculateInputRadius`.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    // `floor(((2^ib - 1) * 2^(total - ib)) / 2^left_shift)`: a positive integer, so the
    // shift is TFLite's floor exactly.
    let max_input_rescaled = ((1i64 << input_integer_bits) - 1)
        << (total_signed_bits - input_integer_bits)
        >> input_left_shift;
    max_input_rescaled as i32
}

/// `DownScaleInt32ToInt16Multiplier`.
pub fn downscale_multiplier_to_i16(m: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if m >= i32::MAX - ROUNDING {
        return i16::MAX;
    }
    ((m + ROUNDING) >> 16) as i16
}

/// `TfLiteRound` of an f32 to an integer: half away from zero, NaN to 0, saturating at
/// the i64 range.
pub fn round_half_away(v: f32) -> i64 {
    let t = v as i64;
    let frac = v - t as f32;
    t.saturating_add(i64::from(frac >= 0.5))
        .saturating_sub(i64::from(frac <= -0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_half_away_matches_std() {
        for v in [
            0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7, -3.7, 1e9, -1e9, 0.0,
        ] {
            assert_eq!(round_half_away(v), v.round() as i64, "{v}");
        }
        assert_eq!(round_half_away(f32::NAN), 0);
        assert_eq!(round_half_away(f32::INFINITY), i64::MAX);
        assert_eq!(round_half_away(f32::NEG_INFINITY), i64::MIN);
    }
}
