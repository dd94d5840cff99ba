//! SVDF on int8 data with int8 or int16 state and time weights, as TFLite Micro's
//! `EvalIntegerSvdfReference` (the fused activation is not applied, as there).

use super::fixedpoint::{multiply_by_quantized_multiplier as mbqm, quantize_multiplier};
use super::{from_ints, ints, per_tensor, qrange};
use crate::interp::svdf_shape::SvdfShape;
use crate::interp::Operand;
use crate::ir::{DType, Tensor, TensorType};
use crate::{bail, Result};

/// `v` narrowed to `dtype` (int8 or int16) as a C cast does.
fn wrap(v: i32, dtype: DType) -> i32 {
    match dtype {
        DType::I8 => v as i8 as i32,
        _ => v as i16 as i32,
    }
}

/// One SVDF step: `(y, next_state)` with the declared output types.
pub fn svdf(rank: usize, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    let d = SvdfShape::of(inputs, rank)?;
    let [y_ty, state_ty] = outputs else {
        bail!("svdf has two outputs, {} were declared", outputs.len());
    };
    let (x, wf, wt, state) = (&inputs[0], &inputs[1], &inputs[2], &inputs[3]);
    if x.ty.dtype != DType::I8 || wf.ty.dtype != DType::I8 || y_ty.dtype != DType::I8 {
        bail!("quantized svdf takes int8 input and feature weights and gives int8 output");
    }
    let state_type = state.ty.dtype;
    if !matches!(state_type, DType::I8 | DType::I16)
        || wt.ty.dtype != state_type
        || state_ty.dtype != state_type
    {
        bail!("quantized svdf keeps its state and time weights both int8 or both int16");
    }
    let (si, zi) = per_tensor(x.ty, "input")?;
    let (swf, _) = per_tensor(wf.ty, "feature weights")?;
    let (swt, _) = per_tensor(wt.ty, "time weights")?;
    let (ss, zs) = per_tensor(state.ty, "state")?;
    let (so, zo) = per_tensor(y_ty, "output")?;
    // TFLite Micro's PrepareSvdf: the scale ratios in f32, then f64.
    let (m1, s1) = quantize_multiplier((si * swf / ss) as f64);
    let (m2, s2) = quantize_multiplier((ss * swt / so) as f64);
    let (lo, hi) = qrange(state_type)?;
    let (xv, wfv, wtv) = (ints(x.data)?, ints(wf.data)?, ints(wt.data)?);
    let mut next = d.shifted(&ints(state.data)?);
    let bias = match inputs.get(4) {
        Some(b) => ints(b.data)?,
        None => vec![0; d.units()],
    };
    let (m, units) = (d.memory, d.units());
    let mut y = Vec::with_capacity(d.batch * units);
    for b in 0..d.batch {
        let xb = &xv[b * d.input..(b + 1) * d.input];
        for f in 0..d.filters {
            let w = &wfv[f * d.input..(f + 1) * d.input];
            let dot = w.iter().zip(xb).fold(0i32, |acc, (&w, &x)| {
                acc.wrapping_add(w.wrapping_mul(x - zi))
            });
            // As the pinned tflite-micro wheel: clamp to the state type, then add the
            // state's zero point and narrow (wrapping). TFLite Micro's newer source adds
            // the zero point before the clamp instead.
            let newest = mbqm(dot, m1, s1).clamp(lo, hi).wrapping_add(zs);
            next[(b * d.filters + f) * m + m - 1] = wrap(newest, state_type);
        }
        let filter_sums: Vec<i32> = (0..d.filters)
            .map(|f| {
                let row = &next[(b * d.filters + f) * m..(b * d.filters + f + 1) * m];
                let w = &wtv[f * m..(f + 1) * m];
                w.iter().zip(row).fold(0i32, |acc, (&w, &s)| {
                    acc.wrapping_add(w.wrapping_mul(s - zs))
                })
            })
            .collect();
        for (u, &bias) in bias.iter().enumerate() {
            let sum = filter_sums[u * rank..(u + 1) * rank]
                .iter()
                .fold(bias, |acc, &v| acc.wrapping_add(v));
            y.push((mbqm(sum, m2, s2) + zo).clamp(-128, 127));
        }
    }
    Ok(vec![
        from_ints(DType::I8, &[d.batch, units], y)?,
        from_ints(state_type, &[d.batch, d.filters * m], next)?,
    ])
}
