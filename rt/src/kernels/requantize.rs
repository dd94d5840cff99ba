//! TFLite's `Requantize` between integer types of any width (int8, uint8, int16, int32);
//! the compiler's interpreter runs the same function.

use crate::command;
use crate::error::{Error, Result};
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::schema::TensorDesc;

/// `x` requantized: `MultiplyByQuantizedMultiplier(x - zero_points.0, multiplier, shift)
/// + zero_points.1`, clamped to the output type's `(qmin, qmax)`.
#[inline]
pub fn requantize(
    x: i32,
    (input_zero_point, output_zero_point): (i32, i32),
    (multiplier, shift): (i32, i32),
    (qmin, qmax): (i32, i32),
) -> i32 {
    multiply_by_quantized_multiplier(x.wrapping_sub(input_zero_point), multiplier, shift)
        .wrapping_add(output_zero_point)
        .clamp(qmin, qmax)
}

/// Checks a requantization: integers to as many integers, a defined shift; returns the
/// output range.
pub(crate) fn requantize_plan(
    c: &command::Requantize,
    x: &TensorDesc,
    o: &TensorDesc,
) -> Result<(i32, i32)> {
    match (x.dtype.int_range(), o.dtype.int_range()) {
        (Some(_), Some(range)) if x.elements() == o.elements() && c.requant.valid() => Ok(range),
        _ => Err(Error::malformed("requantize does not match its tensors")),
    }
}
