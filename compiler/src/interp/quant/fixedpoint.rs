//! TFLite's fixed-point arithmetic (gemmlowp's scalar `fixedpoint.h` and TFLite's
//! `quantization_util`/`common.h`), reproduced operation for operation so that integer
//! kernels round exactly like LiteRT's reference kernels (double-rounding build, the
//! default: `TFLITE_SINGLE_ROUNDING` unset). The integer operations live in the firmware
//! runtime (`nnopt_rt::fixedpoint`), so the interpreter and the runtime share them; the
//! compile-time parts (multipliers from reals, rounding of f32) are here.

pub use nnopt_rt::fixedpoint::*;

/// `frexp`: `x = m * 2^e` with `|m|` in `[0.5, 1)` (and `(0, 0)` for zero or non-finite).
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * 2f64.powi(64));
        return (m, e - 64);
    }
    let e = exp - 1022;
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, e)
}

/// `QuantizeMultiplier`: encodes a real multiplier as a Q31 significand and a power-of-two
/// exponent (`m ≈ q * 2^(shift - 31)`). Very small multipliers become `(0, 0)`.
pub fn quantize_multiplier(m: f64) -> (i32, i32) {
    if m == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(m);
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    // As TFLite's QuantizeMultiplier: a shift beyond 30 saturates.
    if shift > 30 {
        shift = 30;
        q_fixed = (1i64 << 31) - 1;
    }
    (q_fixed as i32, shift)
}

/// `TfLiteRound` on f32: round half away from zero.
pub fn round_f32(x: f32) -> f32 {
    x.round()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantize_multiplier_matches_tflite() {
        // Values from TFLite's quantization_util_test (QuantizeMultiplier).
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(2.0), (1 << 30, 2));
        assert_eq!(quantize_multiplier(-1.0), (-(1 << 30), 1));
        // A significand that rounds up to 2^31 is halved and the shift bumped.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
        // Multipliers below 2^-32 flush to zero.
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
        let (q, s) = quantize_multiplier(0.0123);
        assert!((q as f64 * 2f64.powi(s - 31) - 0.0123).abs() < 1e-11);
    }

    #[test]
    fn srdhm_rounds_and_saturates() {
        assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
        // Ties round up (towards +inf), like ARM's SQRDMULH that gemmlowp emulates:
        // 1.5 -> 2, -1.5 -> -1, 0.5 -> 1, -0.5 -> 0.
        assert_eq!(srdhm(3, 1 << 30), 2);
        assert_eq!(srdhm(-3, 1 << 30), -1);
        assert_eq!(srdhm(1, 1 << 30), 1);
        assert_eq!(srdhm(-1, 1 << 30), 0);
        // Off ties it rounds to nearest: -1.75 -> -2.
        assert_eq!(srdhm(-7, 1 << 29), -2);
    }

    #[test]
    fn rounding_divide_by_pot_rounds_half_away() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(-4, 2), -1);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot16(-5, 1), -3);
    }

    #[test]
    fn multiply_by_quantized_multiplier_matches_real_product() {
        for &m in &[0.0003, 0.017, 0.49, 0.75, 1.7, 13.0] {
            let (q, s) = quantize_multiplier(m);
            for x in [-100000, -1234, -1, 0, 1, 77, 4095, 100000] {
                let got = multiply_by_quantized_multiplier(x, q, s);
                let want = (x as f64 * m).round();
                assert!(
                    (got as f64 - want).abs() <= 1.0,
                    "x={x} m={m} got={got} want={want}"
                );
            }
        }
        // Double rounding: with a zero shift only SRDHM rounds (ties up: -1.5 -> -1); with
        // a right shift RoundingDivideByPOT rounds ties away from zero (-1.5 -> -2).
        let (q, s) = quantize_multiplier(0.5);
        assert_eq!((q, s), (1 << 30, 0));
        assert_eq!(multiply_by_quantized_multiplier(3, q, s), 2);
        assert_eq!(multiply_by_quantized_multiplier(-3, q, s), -1);
        let (q, s) = quantize_multiplier(0.25);
        assert_eq!(multiply_by_quantized_multiplier(-6, q, s), -2);
        assert_eq!(multiply_by_quantized_multiplier(6, q, s), 2);
    }

    #[test]
    fn exp_and_reciprocal_are_accurate() {
        // exp(-x) for a Q5.26 input against f64.
        for &x in &[0.0, 0.01, 0.25, 0.5, 1.0, 2.5, 7.9, 15.0] {
            let raw = -((x * (1i64 << 26) as f64) as i64) as i32;
            let got = exp_on_negative_values(raw, 5) as f64 / 2f64.powi(31);
            assert!((got - (-x).exp()).abs() < 1e-6, "exp(-{x}) = {got}");
        }
        for &x in &[0.0, 0.1, 0.5, 0.9, 0.999] {
            let raw = (x * 2f64.powi(31)) as i32;
            let got = one_over_one_plus_x_for_x_in_0_1(raw) as f64 / 2f64.powi(31);
            assert!((got - 1.0 / (1.0 + x)).abs() < 1e-6, "1/(1+{x}) = {got}");
        }
    }

    #[test]
    fn input_radius_matches_tflite() {
        // CalculateInputRadius(5, 25) = floor(31 * 2^26 / 2^25) = 62.
        assert_eq!(calculate_input_radius(5, 25, 31), 62);
        assert_eq!(calculate_input_radius(4, 0, 15), 15 * 2048);
    }
}
