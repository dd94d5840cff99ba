//! TFLite Micro's integer LSTM (`lstm_eval.h`: int8 data and weights, int32 biases, an
//! int16 cell state), operation for operation: each gate is two fully connected layers
//! into Q3.12 int16 (`2^-12`), a saturating sum and the int16 sigmoid or tanh into Q0.15;
//! the cell and hidden updates are TFLite's quantized multiplications.

use super::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use super::per_tensor;
use super::sigmoid16::{logistic_i16, tanh_i16};
use crate::interp::Operand;
use crate::ir::{
    DType, RecurrentActivation, RecurrentAttrs, RecurrentCell, RecurrentDirection, Tensor,
    TensorType,
};
use crate::{bail, Error, Result};
use ndarray::{ArrayD, IxDyn};

/// The scale of a gate's input to its function (Q3.12).
const GATE_INPUT_SCALE: f32 = 1.0 / 4096.0;
/// The scale of a gate's output (Q0.15).
const GATE_OUTPUT_SCALE: f32 = 1.0 / 32768.0;
/// Gate rows in the packed weights (ONNX's order).
const I: usize = 0;
const O: usize = 1;
const F: usize = 2;
const C: usize = 3;

/// A requantization `(multiplier, shift)`.
type Multiplier = (i32, i32);

/// One gate's fully connected layers.
struct Gate {
    input: Multiplier,
    recurrent: Multiplier,
}

/// Runs the layer: `(y, y_h, y_c)`.
pub(super) fn lstm(
    a: &RecurrentAttrs,
    inputs: &[Operand<'_>],
    outputs: &[TensorType],
) -> Result<Vec<Tensor>> {
    use RecurrentActivation::{Sigmoid, Tanh};
    let supported = a.cell
        == RecurrentCell::Lstm {
            input_forget: false,
            peepholes: false,
        }
        && a.direction == RecurrentDirection::Forward
        && a.clip.is_none()
        && !a.sequence_lens
        && a.activations == [Sigmoid, Tanh, Tanh];
    if !supported {
        bail!(
            "the integer recurrent kernel is TFLite Micro's LSTM: forward, no peepholes, \
             coupled gates, clip or sequence lengths, sigmoid and tanh functions"
        );
    }
    let types: Vec<&TensorType> = inputs.iter().map(|o| o.ty).collect();
    let d = a.dims(&types)?;
    let ty = |i: usize, dtype: DType, what: &str| -> Result<()> {
        if types[i].dtype != dtype {
            bail!("integer LSTM {what} must be {dtype}, got {}", types[i]);
        }
        Ok(())
    };
    ty(0, DType::I8, "input")?;
    ty(1, DType::I8, "input weights")?;
    ty(2, DType::I8, "recurrent weights")?;
    ty(3, DType::I32, "biases")?;
    ty(4, DType::I8, "hidden state")?;
    ty(5, DType::I16, "cell state")?;
    let (x_scale, x_zp) = per_tensor(types[0], "LSTM input")?;
    let (h_scale, h_zp) = per_tensor(types[4], "LSTM hidden state")?;
    let (c_scale, c_zp) = per_tensor(types[5], "LSTM cell state")?;
    if c_zp != 0 {
        bail!("the LSTM cell state must be symmetric, got {}", types[5]);
    }
    let h = d.hidden;
    let w_scales = gate_scales(types[1], h, "input weights")?;
    let r_scales = gate_scales(types[2], h, "recurrent weights")?;
    let fc = |in_scale: f32, w_scale: f32| {
        quantize_multiplier(f64::from(in_scale * w_scale) / f64::from(GATE_INPUT_SCALE))
    };
    let gates: Vec<Gate> = (0..4)
        .map(|g| Gate {
            input: fc(x_scale, w_scales[g]),
            recurrent: fc(h_scale, r_scales[g]),
        })
        .collect();
    let mul = |a: f32, b: f32, out: f32| {
        quantize_multiplier(f64::from(a) * f64::from(b) / f64::from(out))
    };
    let forget_mul = mul(GATE_OUTPUT_SCALE, c_scale, c_scale);
    let input_mul = mul(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, c_scale);
    let output_mul = mul(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, h_scale);
    let cell_power = f64::from(c_scale).log2().round() as i32;
    let (tanh_mult, tanh_shift) = match 15 + cell_power - 3 {
        s if s < 0 => (3, -s),
        s => (0, s),
    };
    let clip = a
        .cell_clip
        .filter(|&c| c > 0.0)
        .map(|c| (f64::from(c) / f64::from(c_scale)).clamp(-32768.0, 32767.0) as i16);

    let ints = |i: usize| -> Result<Vec<i32>> {
        Ok(inputs[i]
            .data
            .to_i64_vec()
            .ok_or_else(|| Error::new("integer LSTM operand is not integer"))?
            .into_iter()
            .map(|v| v as i32)
            .collect())
    };
    let (x, w, r, b) = (ints(0)?, ints(1)?, ints(2)?, ints(3)?);
    if b[4 * h..].iter().any(|&v| v != 0) {
        bail!("the integer LSTM has no recurrent biases (TFLite Micro's kernel)");
    }
    let mut hs = ints(4)?;
    let mut cs = ints(5)?;
    let mut y = vec![0i8; d.steps * d.batch * h];
    let n = d.input;
    for bi in 0..d.batch {
        let s = bi * h;
        for t in 0..d.steps {
            let xo = match a.batch_major {
                true => (bi * d.steps + t) * n,
                false => (t * d.batch + bi) * n,
            };
            let xt = &x[xo..xo + n];
            let hp = hs[s..s + h].to_vec();
            let gate = |g: usize, j: usize| -> i16 {
                let row = g * h + j;
                let acc_in = w[row * n..(row + 1) * n]
                    .iter()
                    .zip(xt)
                    .fold(0i32, |acc, (&w, &x)| acc.wrapping_add(w * (x - x_zp)))
                    .wrapping_add(b[row]);
                let acc_rec = r[row * h..(row + 1) * h]
                    .iter()
                    .zip(&hp)
                    .fold(0i32, |acc, (&w, &v)| acc.wrapping_add(w * (v - h_zp)));
                let gt = &gates[g];
                let fc_in = sat16(requant(acc_in, gt.input));
                let fc_rec = sat16(requant(acc_rec, gt.recurrent));
                sat16(fc_in + fc_rec) as i16
            };
            for j in 0..h {
                let f = i32::from(logistic_i16(gate(F, j), 0, 0));
                let i = i32::from(logistic_i16(gate(I, j), 0, 0));
                let g = i32::from(tanh_i16(gate(C, j), 0, 0));
                let kept = sat16(requant(f * cs[s + j], forget_mul));
                let added = sat16(requant(i * g, input_mul));
                let mut c = sat16(kept + added);
                if let Some(q) = clip {
                    c = c.clamp(-i32::from(q), i32::from(q));
                }
                cs[s + j] = c;
            }
            for j in 0..h {
                let o = i32::from(logistic_i16(gate(O, j), 0, 0));
                let tc = i32::from(tanh_i16(cs[s + j] as i16, tanh_mult, tanh_shift));
                let v = (h_zp + requant(tc * o, output_mul)).clamp(-128, 127);
                hs[s + j] = v;
                let yo = match a.batch_major {
                    true => (bi * d.steps + t) * h,
                    false => (t * d.batch + bi) * h,
                };
                y[yo + j] = v as i8;
            }
        }
    }
    let state = a.state_shape(&d);
    let y_shape = outputs
        .first()
        .map(|t| t.shape.clone())
        .ok_or_else(|| Error::new("LSTM has no output"))?;
    let arr = |shape: &[usize], v: Vec<i32>, dtype: DType| -> Result<Tensor> {
        let f: Vec<f64> = v.into_iter().map(f64::from).collect();
        Tensor::from_f64s(dtype, shape, &f)
            .ok_or_else(|| Error::new("LSTM output does not fit its type"))
    };
    let y = ArrayD::from_shape_vec(IxDyn(&y_shape), y).map_err(|e| Error::new(e.to_string()))?;
    Ok(vec![
        Tensor::I8(y),
        arr(&state, hs, DType::I8)?,
        arr(&state, cs, DType::I16)?,
    ])
}

/// The four gates' scales of a `[1, 4H, n]` int8 weight with per-row parameters (one
/// value per gate block) or one per-tensor scale; zero points must be 0.
fn gate_scales(ty: &TensorType, h: usize, what: &str) -> Result<[f32; 4]> {
    let q = ty
        .quant
        .as_ref()
        .ok_or_else(|| Error::new(format!("LSTM {what} must be quantized, got {ty}")))?;
    if q.zero_point.iter().any(|&z| z != 0) {
        bail!("LSTM {what} must be symmetric, got {ty}");
    }
    if q.scale.len() > 1 && q.scale.len() != 4 * h {
        bail!("LSTM {what} must have one scale per gate, got {ty}");
    }
    let mut out = [0.0; 4];
    for (g, s) in out.iter_mut().enumerate() {
        let block: Vec<f32> = (g * h..(g + 1) * h).map(|row| q.at(row).0).collect();
        if q.scale.len() > 1 && (q.axis != Some(1) || block.iter().any(|&v| v != block[0])) {
            bail!("LSTM {what} must have one scale per gate, got {ty}");
        }
        *s = block[0];
    }
    Ok(out)
}

fn requant(acc: i32, (m, s): Multiplier) -> i32 {
    multiply_by_quantized_multiplier(acc, m, s)
}

fn sat16(v: i32) -> i32 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}
