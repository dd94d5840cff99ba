//! TFLite's reference integer softmax (`reference_ops::Softmax`) and LiteRT's float-table
//! softmax, one row at a time; the compiler's interpreter runs the same functions.

use crate::fixedpoint::{
    calculate_input_radius, exp_on_negative_values, get_reciprocal,
    multiply_by_quantized_multiplier_gt_one, rescale, round_half_away, rounding_divide_by_pot,
    srdhm,
};

/// Integer bits of the scaled differences to the row maximum.
pub const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials.
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Softmax of the `depth` codes `x(i)` of one row, written by `out(i, code)`; the output
/// zero point is the bottom of `(qmin, qmax)` (an 8- or 16-bit type).
pub fn softmax_row(
    depth: usize,
    x: impl Fn(usize) -> i32,
    mut out: impl FnMut(usize, i32),
    (multiplier, left_shift): (i32, i32),
    (qmin, qmax): (i32, i32),
) {
    let diff_min = -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift, 31);
    let max_in_row = (0..depth).map(&x).max().unwrap_or(qmin).max(qmin);
    let scaled =
        |v: i32| multiply_by_quantized_multiplier_gt_one(v - max_in_row, multiplier, left_shift);
    let mut sum_of_exps: i32 = 0;
    for i in 0..depth {
        let v = x(i);
        if v - max_in_row >= diff_min {
            let e = exp_on_negative_values(scaled(v), SCALED_DIFF_INTEGER_BITS);
            sum_of_exps = sum_of_exps.wrapping_add(rescale(e, 0, ACCUMULATION_INTEGER_BITS));
        }
    }
    let (shifted_scale, num_bits_over_unit) =
        get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
    // The output type's width: 8 or 16 bits.
    let out_bits = (qmax - qmin + 1).ilog2() as i32;
    let exponent = num_bits_over_unit + 31 - out_bits;
    for i in 0..depth {
        let v = x(i);
        out(
            i,
            if v - max_in_row >= diff_min {
                let e = exp_on_negative_values(scaled(v), SCALED_DIFF_INTEGER_BITS);
                let unsat = rounding_divide_by_pot(srdhm(shifted_scale, e), exponent);
                (unsat + qmin).clamp(qmin, qmax)
            } else {
                qmin
            },
        );
    }
}

/// LiteRT's float-table softmax (`optimized_ops::Softmax`) of one row of `depth` codes
/// `x(i)` of an 8-bit type, written by `out(i, code)`: `table(255 - (max - x))` is the
/// exponential of a code's distance to the row maximum (`PopulateSoftmaxLookupTable`),
/// the probabilities are scaled by `1 / (sum * output_scale)` in f32, rounded half away
/// from zero, offset by the output zero point and clamped to `(qmin, qmax)`.
pub fn softmax_table_row(
    depth: usize,
    x: impl Fn(usize) -> i32,
    mut out: impl FnMut(usize, i32),
    table: impl Fn(usize) -> f32,
    (output_scale, output_zero_point): (f32, i32),
    (qmin, qmax): (i32, i32),
) {
    let max = (0..depth).map(&x).max().unwrap_or(qmin);
    let entry = |v: i32| table((255 - (max - v)) as usize);
    let mut sum = 0.0f32;
    for i in 0..depth {
        sum += entry(x(i));
    }
    let inv_sum = 1.0 / (sum * output_scale);
    for i in 0..depth {
        let q = round_half_away(entry(x(i)) * inv_sum).saturating_add(output_zero_point as i64);
        out(i, q.clamp(qmin as i64, qmax as i64) as i32);
    }
}
