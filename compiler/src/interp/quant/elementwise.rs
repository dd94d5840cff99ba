//! Quantized elementwise kernels: add/sub (TFLite's left-shift-20 path), mul, squared
//! difference (TFLite Micro's), prelu, clamping activations, LUT-based logistic/tanh (the
//! table builder the functions of one operand share) and the fixed-point hard swish.

use super::fixedpoint::{
    downscale_multiplier_to_i16, multiply_by_quantized_multiplier, quantize_multiplier, round_f32,
    rounding_divide_by_pot16, srdhm16,
};
use super::{activation_range, from_ints, ints, per_tensor, qrange};
use crate::interp::Operand;
use crate::ir::{Activation, BinaryKind, DType, Tensor, TensorType};
use crate::kernels::multiply_by_quantized_multiplier_row;
use crate::{bail, Result};

/// For each output element, the flat indices into two broadcast operands.
fn broadcast_pairs(a: &[usize], b: &[usize], out: &[usize]) -> Vec<(usize, usize)> {
    let r = out.len();
    let pad = |s: &[usize]| {
        let mut v = vec![1; r - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    let strides = |s: &[usize]| {
        let mut st = vec![0; r];
        let mut acc = 1;
        for i in (0..r).rev() {
            st[i] = if s[i] == 1 { 0 } else { acc };
            acc *= s[i];
        }
        st
    };
    let n: usize = out.iter().product();
    if pa == out && pb == out {
        return (0..n).map(|i| (i, i)).collect();
    }
    let (sa, sb) = (strides(&pa), strides(&pb));
    let mut res = Vec::with_capacity(n);
    let mut idx = vec![0usize; r];
    for _ in 0..n {
        let ia: usize = idx.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let ib: usize = idx.iter().zip(&sb).map(|(i, s)| i * s).sum();
        res.push((ia, ib));
        for d in (0..r).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    res
}

/// Quantized binary op with broadcasting and fused activation.
pub fn binary(
    kind: BinaryKind,
    act: Option<Activation>,
    inputs: &[Operand<'_>],
    out: &TensorType,
) -> Result<Tensor> {
    if inputs.len() != 2 {
        bail!("binary op needs two inputs");
    }
    if out.dtype != DType::I8 && out.dtype != DType::U8 {
        bail!(
            "quantized {kind:?} supports int8/uint8 outputs, got {}",
            out.dtype
        );
    }
    let (s1, z1) = per_tensor(inputs[0].ty, "input 0")?;
    let (s2, z2) = per_tensor(inputs[1].ty, "input 1")?;
    let (so, zo) = per_tensor(out, "output")?;
    let (lo, hi) = activation_range(act, out)?;
    let a = ints(inputs[0].data)?;
    let b = ints(inputs[1].data)?;
    let pairs = broadcast_pairs(inputs[0].data.shape(), inputs[1].data.shape(), &out.shape);
    let res: Vec<i32> = match kind {
        BinaryKind::Add | BinaryKind::Sub => {
            let left_shift = 20;
            let twice_max = (2.0f32 * s1.max(s2)) as f64;
            let (m1, sh1) = quantize_multiplier(s1 as f64 / twice_max);
            let (m2, sh2) = quantize_multiplier(s2 as f64 / twice_max);
            let (mo, sho) =
                quantize_multiplier(twice_max / ((1i32 << left_shift) as f32 * so) as f64);
            let sub = kind == BinaryKind::Sub;
            if a.len() == pairs.len()
                && b.len() == pairs.len()
                && pairs.iter().enumerate().all(|(k, &p)| p == (k, k))
            {
                // Same shapes: whole rows through the vectorized fixed-point steps.
                let scaled = |v: &[i32], z: i32, m: i32, sh: i32| {
                    let mut x: Vec<i32> = v
                        .iter()
                        .map(|&q| (q - z).wrapping_mul(1 << left_shift))
                        .collect();
                    multiply_by_quantized_multiplier_row(&mut x, m, sh);
                    x
                };
                let y1 = scaled(&a, z1, m1, sh1);
                let y2 = scaled(&b, z2, m2, sh2);
                let mut raw: Vec<i32> = y1
                    .iter()
                    .zip(&y2)
                    .map(|(&p, &q)| {
                        if sub {
                            p.wrapping_sub(q)
                        } else {
                            p.wrapping_add(q)
                        }
                    })
                    .collect();
                multiply_by_quantized_multiplier_row(&mut raw, mo, sho);
                raw.iter_mut().for_each(|v| *v = (*v + zo).clamp(lo, hi));
                return from_ints(out.dtype, &out.shape, raw);
            }
            pairs
                .iter()
                .map(|&(i, j)| {
                    let x1 = (a[i] - z1).wrapping_mul(1 << left_shift);
                    let x2 = (b[j] - z2).wrapping_mul(1 << left_shift);
                    let y1 = multiply_by_quantized_multiplier(x1, m1, sh1);
                    let y2 = multiply_by_quantized_multiplier(x2, m2, sh2);
                    let raw = if sub {
                        y1.wrapping_sub(y2)
                    } else {
                        y1.wrapping_add(y2)
                    };
                    (multiply_by_quantized_multiplier(raw, mo, sho) + zo).clamp(lo, hi)
                })
                .collect()
        }
        BinaryKind::Mul => {
            let (m, sh) = quantize_multiplier((s1 * s2 / so) as f64);
            pairs
                .iter()
                .map(|&(i, j)| {
                    let p = (a[i] - z1).wrapping_mul(b[j] - z2);
                    (multiply_by_quantized_multiplier(p, m, sh) + zo).clamp(lo, hi)
                })
                .collect()
        }
        BinaryKind::Max | BinaryKind::Min => {
            if (s1, z1) != (so, zo) || (s2, z2) != (so, zo) {
                bail!("quantized {kind:?} needs equal input and output quantization");
            }
            let f = if kind == BinaryKind::Max {
                i32::max
            } else {
                i32::min
            };
            pairs
                .iter()
                .map(|&(i, j)| f(a[i], b[j]).clamp(lo, hi))
                .collect()
        }
        BinaryKind::SquaredDifference => {
            let p = SquaredDifferenceParams::new(s1, s2, so);
            pairs
                .iter()
                .map(|&(i, j)| (p.apply(a[i] - z1, b[j] - z2) + zo).clamp(lo, hi))
                .collect()
        }
        _ => bail!("quantized {kind:?} is not supported"),
    };
    from_ints(out.dtype, &out.shape, res)
}

/// Quantized PReLU (`reference_ops::BroadcastPrelu4DSlow`).
pub fn prelu(inputs: &[Operand<'_>], out: &TensorType) -> Result<Tensor> {
    if inputs.len() != 2 {
        bail!("prelu needs input and slope");
    }
    let (si, zi) = per_tensor(inputs[0].ty, "input")?;
    let (sa, za) = per_tensor(inputs[1].ty, "slope")?;
    let (so, zo) = per_tensor(out, "output")?;
    let (lo, hi) = qrange(out.dtype)?;
    let (m1, sh1) = quantize_multiplier((si / so) as f64);
    let (m2, sh2) = quantize_multiplier((si * sa / so) as f64);
    let x = ints(inputs[0].data)?;
    let alpha = ints(inputs[1].data)?;
    let pairs = broadcast_pairs(inputs[0].data.shape(), inputs[1].data.shape(), &out.shape);
    let res = pairs
        .iter()
        .map(|&(i, j)| {
            let v = x[i] - zi;
            let y = if v >= 0 {
                multiply_by_quantized_multiplier(v, m1, sh1)
            } else {
                multiply_by_quantized_multiplier(v * (alpha[j] - za), m2, sh2)
            };
            (y + zo).clamp(lo, hi)
        })
        .collect();
    from_ints(out.dtype, &out.shape, res)
}

/// TFLite Micro's int8 `SQUARED_DIFFERENCE` (`squared_difference.cc`): both inputs
/// shifted left by 7 and scaled to half the larger input scale, the difference squared in
/// int32, then one requantization (all multipliers from f64).
struct SquaredDifferenceParams {
    m1: (i32, i32),
    m2: (i32, i32),
    out: (i32, i32),
}

impl SquaredDifferenceParams {
    const LEFT_SHIFT: i32 = 7;

    fn new(s1: f32, s2: f32, so: f32) -> Self {
        let twice_max = 2.0 * s1.max(s2) as f64;
        let out = twice_max * twice_max / ((1i32 << (Self::LEFT_SHIFT * 2)) as f64 * so as f64);
        SquaredDifferenceParams {
            m1: quantize_multiplier(s1 as f64 / twice_max),
            m2: quantize_multiplier(s2 as f64 / twice_max),
            out: quantize_multiplier(out),
        }
    }

    /// The output code before the zero point, from the inputs' offsets from theirs.
    fn apply(&self, d1: i32, d2: i32) -> i32 {
        let scaled = |d: i32, (m, sh): (i32, i32)| {
            multiply_by_quantized_multiplier(d.wrapping_mul(1 << Self::LEFT_SHIFT), m, sh)
        };
        let diff = scaled(d1, self.m1).wrapping_sub(scaled(d2, self.m2));
        multiply_by_quantized_multiplier(diff.wrapping_mul(diff), self.out.0, self.out.1)
    }
}

/// Quantized standalone activation.
pub fn activation(act: Activation, x: &Operand<'_>, out: &TensorType) -> Result<Tensor> {
    let (si, zi) = per_tensor(x.ty, "input")?;
    let (so, zo) = per_tensor(out, "output")?;
    let xv = ints(x.data)?;
    let (qmin, qmax) = qrange(out.dtype)?;
    let res: Vec<i32> = match act {
        Activation::Relu | Activation::Relu6 | Activation::ReluN1To1 | Activation::Clip { .. } => {
            let (amin, amax) = act.clamp_range().expect("clamp activation");
            // QuantizedReluX: requantize, then clamp to the activation's quantized range.
            let lo = qmin.max(zo + round_f32(amin / so) as i32);
            let hi = if amax == f32::INFINITY {
                qmax
            } else {
                qmax.min(zo + round_f32(amax / so) as i32)
            };
            let (m, sh) = quantize_multiplier((si / so) as f64);
            xv.iter()
                .map(|&v| (zo + multiply_by_quantized_multiplier(v - zi, m, sh)).clamp(lo, hi))
                .collect()
        }
        Activation::LeakyRelu { alpha } => {
            let (ma, sha) = quantize_multiplier((si * alpha / so) as f64);
            let (mi, shi) = quantize_multiplier((si / so) as f64);
            xv.iter()
                .map(|&v| {
                    let d = v - zi;
                    let y = if d >= 0 {
                        multiply_by_quantized_multiplier(d, mi, shi)
                    } else {
                        multiply_by_quantized_multiplier(d, ma, sha)
                    };
                    (zo + y).clamp(qmin, qmax)
                })
                .collect()
        }
        Activation::Sigmoid | Activation::Tanh => {
            if !matches!(out.dtype, DType::I8 | DType::U8) {
                bail!(
                    "quantized {act:?} supports int8/uint8 only, got {}",
                    out.dtype
                );
            }
            let f: fn(f32) -> f32 = if act == Activation::Tanh {
                f32::tanh
            } else {
                |v| 1.0 / (1.0 + (-v).exp())
            };
            let lut = lut8(si, zi, so, zo, qmin, qmax, f);
            xv.iter().map(|&v| lut[(v - qmin) as usize]).collect()
        }
        Activation::HardSwish => {
            if !matches!(out.dtype, DType::I8 | DType::U8) {
                bail!(
                    "quantized hard swish supports int8/uint8 only, got {}",
                    out.dtype
                );
            }
            let p = HardSwishParams::new(si, zi, so, zo);
            xv.iter().map(|&v| p.apply(v, qmin, qmax)).collect()
        }
        Activation::HardSigmoid { .. } => bail!("quantized hard sigmoid is not supported"),
        Activation::Binarize => {
            // x >= 0 exactly when the code is at or above the zero point.
            let code = |y: f32| (zo + round_f32(y / so) as i32).clamp(qmin, qmax);
            let (plus, minus) = (code(1.0), code(-1.0));
            xv.iter()
                .map(|&v| if v >= zi { plus } else { minus })
                .collect()
        }
    };
    from_ints(out.dtype, &out.shape, res)
}

/// TFLite `LUTPopulate<int8_t/uint8_t>`: the table of `f` over every input value, indexed
/// here by `value - qmin`. A result beyond int32 (or NaN) converts as x86's `cvttss2si`
/// does in TFLite's `static_cast<int32_t>`, to `INT32_MIN`, so it clamps to `qmin`.
pub(super) fn lut8(
    si: f32,
    zi: i32,
    so: f32,
    zo: i32,
    qmin: i32,
    qmax: i32,
    f: impl Fn(f32) -> f32,
) -> Vec<i32> {
    let inverse_scale = 1.0 / so;
    (qmin..=qmax)
        .map(|v| {
            let dequantized = si * (v - zi) as f32;
            let rescaled = round_f32(f(dequantized) * inverse_scale) + zo as f32;
            let code = if (-2_147_483_648.0..2_147_483_648.0).contains(&rescaled) {
                rescaled as i32
            } else {
                i32::MIN
            };
            code.clamp(qmin, qmax)
        })
        .collect()
}

/// TFLite's `HardSwishParams` and `reference_ops::HardSwish` for int8/uint8.
struct HardSwishParams {
    input_zero_point: i32,
    output_zero_point: i32,
    output_multiplier: i16,
    output_exponent: i32,
    reluish_multiplier: i16,
    reluish_exponent: i32,
}

impl HardSwishParams {
    fn new(si: f32, zi: i32, so: f32, zo: i32) -> Self {
        let hires_input_scale = (1.0f32 / 128.0) * si;
        let reluish_scale = 3.0f32 / 32768.0;
        let (om, oe) = quantize_multiplier((hires_input_scale / so) as f64);
        let (rm, re) = quantize_multiplier((hires_input_scale / reluish_scale) as f64);
        HardSwishParams {
            input_zero_point: zi,
            output_zero_point: zo,
            output_multiplier: downscale_multiplier_to_i16(om),
            output_exponent: oe,
            reluish_multiplier: downscale_multiplier_to_i16(rm),
            reluish_exponent: re,
        }
    }

    fn apply(&self, x: i32, qmin: i32, qmax: i32) -> i32 {
        fn sat_left_shift(v: i16, amount: i32) -> i16 {
            (v as i64 * (1i64 << amount)).clamp(i16::MIN as i64, i16::MAX as i64) as i16
        }
        fn sat_doubling_high_mul(a: i16, b: i16) -> i16 {
            if a == b && a == i16::MIN {
                return i16::MAX;
            }
            ((a as i32 * b as i32) / (1 << 15)) as i16
        }
        let input_value = (x - self.input_zero_point) as i16;
        let hires = input_value.wrapping_mul(1 << 7);
        let preshift_output = srdhm16(hires, self.output_multiplier);
        let mut reluish = hires;
        if self.reluish_exponent > 0 {
            reluish = sat_left_shift(reluish, self.reluish_exponent - 1);
        }
        reluish = srdhm16(reluish, self.reluish_multiplier);
        if self.reluish_exponent > 0 {
            reluish = sat_left_shift(reluish, 1);
        }
        if self.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot16(reluish, -self.reluish_exponent);
        }
        let reluish = ((reluish as i32 + (1 << 15)) >> 1) as i16;
        let preshift = sat_doubling_high_mul(reluish, preshift_output);
        let out = rounding_divide_by_pot16(preshift, -self.output_exponent)
            .wrapping_add(self.output_zero_point as i16);
        (out as i32).clamp(qmin, qmax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::QuantParams;

    /// Int8 binarize: codes at or above the input zero point give +1, the rest -1, in the
    /// output's codes (scale 1/64, zero point 3: +1 is code 67, -1 code -61).
    #[test]
    fn int8_binarize_thresholds_at_the_zero_point() {
        let ty = |scale, zp| {
            TensorType::new(DType::I8, vec![5]).with_quant(Some(QuantParams::per_tensor(scale, zp)))
        };
        let (ti, to) = (ty(0.1, -2), ty(1.0 / 64.0, 3));
        let x = Tensor::from_f64s(DType::I8, &[5], &[-128.0, -3.0, -2.0, -1.0, 127.0]).unwrap();
        let y = activation(Activation::Binarize, &Operand { data: &x, ty: &ti }, &to).unwrap();
        assert_eq!(y.to_f64_vec(), [-61.0, -61.0, 67.0, 67.0, 67.0]);
    }
}
