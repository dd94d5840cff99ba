//! TFLite's reference integer softmax (`reference_ops::Softmax`), one row at a time; the
//! compiler's interpreter runs the same function.

use crate::fixedpoint::{
    calculate_input_radius, exp_on_negative_values, get_reciprocal,
    multiply_by_quantized_multiplier_gt_one, rescale, rounding_divide_by_pot, srdhm,
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
