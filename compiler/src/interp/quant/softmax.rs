//! Quantized softmax: int8 or uint8 in and out, or int8 in and int16 out.
//!
//! TFLite's reference kernel (`reference_ops::Softmax` with `PreprocessSoftmaxScaling`) is
//! used whenever its scaling is defined (`beta * input_scale * 2^26 > 1`). Below that the
//! reference kernel aborts in `QuantizeMultiplierGreaterThanOne`, and LiteRT can only run
//! the model with its optimized kernel, a float lookup table
//! (`optimized_ops::PopulateSoftmaxLookupTable` + `optimized_ops::Softmax`), which is
//! reproduced in that case.

use super::fixedpoint::quantize_multiplier;
use super::{from_ints, ints, per_tensor, qrange};
use crate::interp::Operand;
use crate::ir::{DType, Tensor, TensorType};
use crate::{bail, Result};
use nnopt_rt::kernels::softmax::SCALED_DIFF_INTEGER_BITS;

/// Quantized softmax along `axis`.
pub fn softmax(axis: usize, beta: f32, x: &Operand<'_>, out: &TensorType) -> Result<Tensor> {
    let widening = x.ty.dtype == DType::I8 && out.dtype == DType::I16;
    if !(matches!(out.dtype, DType::I8 | DType::U8) && out.dtype == x.ty.dtype || widening) {
        bail!(
            "quantized softmax supports int8 -> int8, int8 -> int16 and uint8 -> uint8, got {} -> {}",
            x.ty.dtype,
            out.dtype
        );
    }
    let (si, _) = per_tensor(x.ty, "input")?;
    let (so, zo) = per_tensor(out, "output")?;
    let s = x.data.shape();
    if axis >= s.len() {
        bail!("softmax axis {axis} out of range for {s:?}");
    }
    let dims = [
        s[..axis].iter().product(),
        s[axis],
        s[axis + 1..].iter().product(),
    ];
    let xv = ints(x.data)?;
    let range = qrange(out.dtype)?;
    let res = match softmax_fixed_point(beta, si) {
        Some(fp) => softmax_reference(fp, &xv, dims, range),
        None if widening => bail!("int8 -> int16 softmax needs beta * input scale * 2^26 > 1"),
        None => softmax_with_table(&softmax_table(si, beta), &xv, dims, (so, zo), range),
    };
    from_ints(out.dtype, &out.shape, res)
}

/// The input multiplier and left shift of TFLite's reference softmax for `beta` and the
/// input scale (`PreprocessSoftmaxScaling`), or `None` when `beta * input_scale * 2^26 <=
/// 1`, where that kernel is undefined and LiteRT uses its float-table kernel.
pub fn softmax_fixed_point(beta: f32, input_scale: f32) -> Option<(i32, i32)> {
    let real =
        (beta as f64 * input_scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64)
            .min((1i64 << 31) as f64 - 1.0);
    (real > 1.0).then(|| quantize_multiplier(real))
}

/// TFLite's reference softmax (`reference_ops::Softmax`) of codes `x` laid out as
/// `[outer, depth, inner]`, along `depth`, with the fixed-point parameters of
/// [`softmax_fixed_point`]; the output's zero point is the bottom of `(qmin, qmax)`.
pub fn softmax_reference(
    (multiplier, left_shift): (i32, i32),
    x: &[i32],
    dims: [usize; 3],
    range: (i32, i32),
) -> Vec<i32> {
    map_rows(x, dims, |row, out| {
        reference_row(row, out, multiplier, left_shift, range)
    })
}

/// Applies `f` to every row of `x` (`[outer, depth, inner]`, rows along `depth`).
fn map_rows(
    x: &[i32],
    [outer, depth, inner]: [usize; 3],
    mut f: impl FnMut(&[i32], &mut [i32]),
) -> Vec<i32> {
    let mut res = vec![0i32; x.len()];
    let mut row = vec![0i32; depth];
    let mut row_out = vec![0i32; depth];
    for o in 0..outer {
        for i in 0..inner {
            let at = |c: usize| (o * depth + c) * inner + i;
            for (c, r) in row.iter_mut().enumerate() {
                *r = x[at(c)];
            }
            f(&row, &mut row_out);
            for (c, &v) in row_out.iter().enumerate() {
                res[at(c)] = v;
            }
        }
    }
    res
}

/// `reference_ops::Softmax` for one row (output zero point is the type minimum): the
/// firmware runtime's kernel, shared.
fn reference_row(
    row: &[i32],
    out: &mut [i32],
    multiplier: i32,
    left_shift: i32,
    range: (i32, i32),
) {
    nnopt_rt::kernels::softmax::softmax_row(
        row.len(),
        |i| row[i],
        |i, v| out[i] = v,
        (multiplier, left_shift),
        range,
    );
}

/// LiteRT's `PopulateSoftmaxLookupTable` for 8-bit codes: `table[255 - d] =
/// exp(-input_scale * beta * d)` for a code's distance `d` (0..=255) to its row's maximum.
pub fn softmax_table(input_scale: f32, beta: f32) -> [f32; 256] {
    let scale = -input_scale * beta;
    let mut table = [0f32; 256];
    for d in 0..=255i32 {
        table[(255 - d) as usize] = (scale * d as f32).exp();
    }
    table
}

/// LiteRT's float-table softmax (`optimized_ops::Softmax`) of 8-bit codes `x` laid out as
/// `[outer, depth, inner]`, along `depth`, with a [`softmax_table`] and the output's scale
/// and zero point.
pub fn softmax_with_table(
    table: &[f32; 256],
    x: &[i32],
    dims: [usize; 3],
    output: (f32, i32),
    range: (i32, i32),
) -> Vec<i32> {
    map_rows(x, dims, |row, out| lut_row(row, out, table, output, range))
}

/// LiteRT's float-table softmax for one row: the firmware runtime's kernel, shared.
fn lut_row(
    row: &[i32],
    out: &mut [i32],
    table: &[f32; 256],
    output: (f32, i32),
    range: (i32, i32),
) {
    nnopt_rt::kernels::softmax::softmax_table_row(
        row.len(),
        |i| row[i],
        |i, v| out[i] = v,
        |i| table[i],
        output,
        range,
    );
}
