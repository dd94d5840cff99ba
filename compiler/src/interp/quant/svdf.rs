//! SVDF on int8 data with int8 or int16 state and time weights, as TFLite Micro's
//! `EvalIntegerSvdfReference` (the fused activation is not applied, as there): the
//! firmware runtime's kernel, shared.

use super::fixedpoint::quantize_multiplier;
use super::{from_ints, ints, per_tensor};
use crate::interp::svdf_shape::SvdfShape;
use crate::interp::Operand;
use crate::ir::{DType, Tensor, TensorType};
use crate::{bail, Result};
use nnopt_rt::kernels::svdf::{svdf_step, SvdfOperands};

pub use nnopt_rt::kernels::svdf::SvdfParams;

/// One SVDF step: `(y, next_state)` with the declared output types.
pub fn svdf(rank: usize, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    let types: Vec<&TensorType> = inputs.iter().map(|o| o.ty).collect();
    let p = svdf_params(rank, &types, outputs)?;
    let bias = match inputs.get(4) {
        Some(b) => ints(b.data)?,
        None => vec![0; p.units()],
    };
    let data = |i: usize| ints(inputs[i].data);
    let (y, next) = svdf_integer(&p, &data(0)?, &data(1)?, &data(2)?, &data(3)?, &bias)?;
    Ok(vec![
        from_ints(DType::I8, &[p.batch, p.units()], y)?,
        from_ints(outputs[1].dtype, &[p.batch, p.filters * p.memory], next)?,
    ])
}

/// The sizes and fixed-point parameters of an integer SVDF step of `rank` on operands of
/// types `inputs` (x, weights_feature, weights_time, state, [bias]) with outputs of types
/// `outputs` (y, next state).
pub fn svdf_params(
    rank: usize,
    inputs: &[&TensorType],
    outputs: &[TensorType],
) -> Result<SvdfParams> {
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape.as_slice()).collect();
    let d = SvdfShape::from_shapes(&shapes, rank)?;
    let [y_ty, state_ty] = outputs else {
        bail!("svdf has two outputs, {} were declared", outputs.len());
    };
    let (x, wf, wt, state) = (inputs[0], inputs[1], inputs[2], inputs[3]);
    if x.dtype != DType::I8 || wf.dtype != DType::I8 || y_ty.dtype != DType::I8 {
        bail!("quantized svdf takes int8 input and feature weights and gives int8 output");
    }
    let state_type = state.dtype;
    if !matches!(state_type, DType::I8 | DType::I16)
        || wt.dtype != state_type
        || state_ty.dtype != state_type
    {
        bail!("quantized svdf keeps its state and time weights both int8 or both int16");
    }
    let (si, zi) = per_tensor(x, "input")?;
    let (swf, _) = per_tensor(wf, "feature weights")?;
    let (swt, _) = per_tensor(wt, "time weights")?;
    let (ss, zs) = per_tensor(state, "state")?;
    let (so, zo) = per_tensor(y_ty, "output")?;
    Ok(SvdfParams {
        batch: d.batch,
        input: d.input,
        filters: d.filters,
        memory: d.memory,
        rank,
        input_zero_point: zi,
        state_zero_point: zs,
        output_zero_point: zo,
        // TFLite Micro's PrepareSvdf: the scale ratios in f32, then f64.
        feature: quantize_multiplier((si * swf / ss) as f64),
        time: quantize_multiplier((ss * swt / so) as f64),
        state_i16: state_type == DType::I16,
    })
}

/// One integer SVDF step with parameters `p` on row-major operands: `(y, next_state)`, or
/// an error when the sizes do not fit `p` or a shift is out of range.
pub fn svdf_integer(
    p: &SvdfParams,
    x: &[i32],
    weights_feature: &[i32],
    weights_time: &[i32],
    state: &[i32],
    bias: &[i32],
) -> Result<(Vec<i32>, Vec<i32>)> {
    let n = |dims: &[usize]| {
        dims.iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX)
    };
    let sizes_fit = p.rank > 0
        && p.memory > 0
        && p.filters.is_multiple_of(p.rank)
        && x.len() == n(&[p.batch, p.input])
        && weights_feature.len() == n(&[p.filters, p.input])
        && weights_time.len() == n(&[p.filters, p.memory])
        && state.len() == n(&[p.batch, p.filters, p.memory])
        && bias.len() == p.units();
    if !sizes_fit {
        bail!("svdf operands do not match its sizes");
    }
    if ![p.feature.1, p.time.1]
        .iter()
        .all(|s| (-31..=31).contains(s))
    {
        bail!("svdf requantization shift out of range");
    }
    let mut next = vec![0; state.len()];
    let mut sums = vec![0; p.filters];
    let mut y = vec![0; p.batch * p.units()];
    let operands = SvdfOperands {
        x,
        weights_feature,
        weights_time,
        state,
        bias,
    };
    svdf_step(p, &operands, &mut next, &mut sums, |i, v| y[i] = v);
    Ok((y, next))
}
