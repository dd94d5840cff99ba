//! Quantized convolution, transposed convolution and fully connected layers
//! (`reference_integer_ops::ConvPerChannel`, `DepthwiseConvPerChannel`,
//! `TransposeConv` and `FullyConnected[PerChannel]`), and batched MatMul (ONNX
//! QLinearMatMul) requantized the same way.

use super::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use super::{activation_range, channel_params, from_ints, ints, per_tensor};
use crate::interp::conv_geometry::{act_index, dims, strides4, ConvGeometry};
use crate::interp::Operand;
use crate::interp::PreparedWeights;
use crate::ir::{Activation, ConvAttrs, Layout, Tensor, TensorType};
use crate::kernels::{self, ConvWeights, Requantize};
use crate::{bail, Result};

/// Per-channel `(multiplier, shift)` pairs and weight zero points.
pub type ChannelRequant = (Vec<(i32, i32)>, Vec<i32>);

/// Per-output-channel requantization: multiplier and shift for
/// `input_scale * weight_scale[c] / output_scale`, computed in double like TFLite's
/// `PopulateConvolutionQuantizationParams`. Public so that hardware generators derive
/// exactly the interpreter's constants.
pub fn channel_multipliers(
    x: &TensorType,
    w: &TensorType,
    out: &TensorType,
    n: usize,
) -> Result<ChannelRequant> {
    let (in_scale, _) = per_tensor(x, "input")?;
    let (out_scale, _) = per_tensor(out, "output")?;
    let wq = w
        .quant
        .as_ref()
        .ok_or_else(|| crate::Error::new(format!("weights must be quantized, got {w}")))?;
    let params = channel_params(wq, n, "weights")?;
    let mults = params
        .iter()
        .map(|&(ws, _)| quantize_multiplier(in_scale as f64 * ws as f64 / out_scale as f64))
        .collect();
    Ok((mults, params.iter().map(|p| p.1).collect()))
}

fn bias_values(inputs: &[Operand<'_>], n: usize) -> Result<Vec<i32>> {
    match inputs.get(2) {
        None => Ok(vec![0; n]),
        Some(b) => {
            let v = ints(b.data)?;
            if v.len() != n {
                bail!("bias has {} values, expected {n}", v.len());
            }
            Ok(v)
        }
    }
}

/// Grouped, per-channel quantized 2-D convolution (depthwise is group = channels), on
/// the shared integer kernels.
pub fn conv(
    c: &ConvAttrs,
    inputs: &[Operand<'_>],
    out: &TensorType,
    slot: Option<&PreparedWeights>,
) -> Result<Tensor> {
    if inputs.len() < 2 {
        bail!("conv needs input and weights");
    }
    let (x, w) = (&inputs[0], &inputs[1]);
    let (_, in_zp) = per_tensor(x.ty, "input")?;
    let (_, out_zp) = per_tensor(out, "output")?;
    let geo = ConvGeometry::new(c, x.data.shape(), w.data.shape(), &out.shape)?;
    let shape = geo.kernel_shape();
    let cout = geo.cout();
    let (mults, w_zps) = channel_multipliers(x.ty, w.ty, out, cout)?;
    let bias = bias_values(inputs, cout)?;
    let (act_min, act_max) = activation_range(c.activation, out)?;
    let weights = ConvWeights::cached(slot, || {
        let wv = ints(w.data)?;
        let wv = match c.layout {
            Layout::Nchw => kernels::nchw_to_nhwc(&wv, w.data.shape()),
            Layout::Nhwc => wv,
        };
        ConvWeights::new(&shape, &wv, &w_zps)
    })?;
    let mut res = vec![0i32; out.num_elements()];
    let (multiplier, shift): (Vec<i32>, Vec<i32>) = mults.into_iter().unzip();
    let stage = Requantize {
        bias: &bias,
        multiplier: &multiplier,
        shift: &shift,
        zero_point: out_zp,
        range: (act_min, act_max),
    };
    match c.layout {
        Layout::Nhwc => with_int_slice!(x.data, xs => {
            kernels::conv2d_prepared(&shape, xs, in_zp, &weights, &mut res, &stage)
        })?,
        Layout::Nchw => {
            let xv = kernels::nchw_to_nhwc(&ints(x.data)?, x.data.shape());
            kernels::conv2d_prepared(&shape, &xv, in_zp, &weights, &mut res, &stage)?
        }
    }
    if c.layout == Layout::Nchw {
        res = kernels::nhwc_to_nchw(&res, &out.shape);
    }
    from_ints(out.dtype, &out.shape, res)
}

/// Quantized transposed convolution (`reference_integer_ops::TransposeConv`): scatter
/// into int32 accumulators, add bias, requantize per channel. NHWC with OHWI weights.
/// The output shape (and so any output padding) comes from the declared output type.
pub fn conv_transpose(c: &ConvAttrs, inputs: &[Operand<'_>], out: &TensorType) -> Result<Tensor> {
    if c.layout != Layout::Nhwc || c.group != 1 {
        bail!("quantized conv_transpose supports NHWC layout without groups only");
    }
    if inputs.len() < 2 {
        bail!("conv_transpose needs input and weights");
    }
    let (x, w) = (&inputs[0], &inputs[1]);
    let (_, in_zp) = per_tensor(x.ty, "input")?;
    let (_, out_zp) = per_tensor(out, "output")?;
    let (n, h, wd, cin) = dims(Layout::Nhwc, x.data.shape())?;
    let (_, oh, ow, cout) = dims(Layout::Nhwc, &out.shape)?;
    let ws = w.data.shape();
    let (kh, kw) = (ws[1], ws[2]);
    if ws[0] != cout || ws[3] != cin {
        bail!("conv_transpose weights {ws:?} do not match {cin} -> {cout} channels");
    }
    let (mults, w_zps) = channel_multipliers(x.ty, w.ty, out, cout)?;
    let bias = bias_values(inputs, cout)?;
    let (act_min, act_max) = activation_range(c.activation, out)?;
    let xv = ints(x.data)?;
    let wv = ints(w.data)?;
    let xs = strides4(x.data.shape());
    let os = strides4(&out.shape);
    let wst = strides4(ws);
    let mut acc = vec![0i32; out.num_elements()];
    for b in 0..n {
        for iy in 0..h {
            for ix in 0..wd {
                for ic in 0..cin {
                    let xval = xv[act_index(Layout::Nhwc, &xs, b, iy, ix, ic)] - in_zp;
                    for ky in 0..kh {
                        let oy =
                            (iy * c.strides[0] + ky * c.dilations[0]) as isize - c.pads[0] as isize;
                        if oy < 0 || oy >= oh as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ox = (ix * c.strides[1] + kx * c.dilations[1]) as isize
                                - c.pads[1] as isize;
                            if ox < 0 || ox >= ow as isize {
                                continue;
                            }
                            for oc in 0..cout {
                                let wval =
                                    wv[oc * wst[0] + ky * wst[1] + kx * wst[2] + ic] - w_zps[oc];
                                let oi =
                                    act_index(Layout::Nhwc, &os, b, oy as usize, ox as usize, oc);
                                acc[oi] = acc[oi].wrapping_add(xval.wrapping_mul(wval));
                            }
                        }
                    }
                }
            }
        }
    }
    let res = acc
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let oc = i % cout;
            let (m, s) = mults[oc];
            (multiply_by_quantized_multiplier(a.wrapping_add(bias[oc]), m, s) + out_zp)
                .clamp(act_min, act_max)
        })
        .collect();
    from_ints(out.dtype, &out.shape, res)
}

/// Quantized fully connected layer: `a [M, K]` times weights `[N, K]` (`trans_b`) or
/// `[K, N]`, plus int32 bias, requantized per tensor or per output channel.
pub fn fully_connected(
    trans_b: bool,
    act: Option<Activation>,
    inputs: &[Operand<'_>],
    out: &TensorType,
    slot: Option<&PreparedWeights>,
) -> Result<Tensor> {
    if inputs.len() < 2 {
        bail!("gemm needs two inputs");
    }
    let (a, w) = (&inputs[0], &inputs[1]);
    let (_, in_zp) = per_tensor(a.ty, "input")?;
    let (_, out_zp) = per_tensor(out, "output")?;
    let (&[m, k], &[w0, w1]) = (a.data.shape(), w.data.shape()) else {
        bail!(
            "fully connected needs 2-D input and weights, got {:?} and {:?}",
            a.data.shape(),
            w.data.shape()
        );
    };
    let (nn, wk) = if trans_b { (w0, w1) } else { (w1, w0) };
    if wk != k {
        bail!(
            "fully connected weights {:?} do not take {k} inputs",
            w.data.shape()
        );
    }
    let (mults, w_zps) = channel_multipliers(a.ty, w.ty, out, nn)?;
    let bias = bias_values(inputs, nn)?;
    let (act_min, act_max) = activation_range(act, out)?;
    let weights = ConvWeights::cached(slot, || {
        let wv = ints(w.data)?;
        let weight = |j: usize, kk: usize| {
            if trans_b {
                wv[j * k + kk]
            } else {
                wv[kk * nn + j]
            }
        };
        ConvWeights::fully_connected(k, weight, &w_zps)
    })?;
    let mut res = vec![0i32; m * nn];
    let (multiplier, shift): (Vec<i32>, Vec<i32>) = mults.into_iter().unzip();
    let stage = Requantize {
        bias: &bias,
        multiplier: &multiplier,
        shift: &shift,
        zero_point: out_zp,
        range: (act_min, act_max),
    };
    with_int_slice!(a.data, av => {
        kernels::fully_connected(av, in_zp, m, &weights, &mut res, &stage)
    })?;
    from_ints(out.dtype, &out.shape, res)
}

/// Quantized MatMul (ONNX QLinearMatMul): `(a - a_zp) @ (b - b_zp)` in i32, requantized
/// per output column with TFLite's fixed-point multiplier (per-column `b` scales allowed).
pub fn matmul(inputs: &[Operand<'_>], out: &TensorType) -> Result<Tensor> {
    if inputs.len() != 2 {
        bail!("mat_mul needs two inputs");
    }
    let (a, b) = (&inputs[0], &inputs[1]);
    let (_, a_zp) = per_tensor(a.ty, "input")?;
    let (_, out_zp) = per_tensor(out, "output")?;
    let n = if b.data.shape().len() >= 2 {
        b.data.shape()[b.data.shape().len() - 1]
    } else {
        1
    };
    let (mults, b_zps) = channel_multipliers(a.ty, b.ty, out, n)?;
    let centered = |t: &Tensor, zp: &dyn Fn(usize) -> i32| -> Result<ndarray::ArrayD<i32>> {
        let v = ints(t)?;
        let v = v.iter().enumerate().map(|(i, &x)| x - zp(i)).collect();
        Ok(ndarray::ArrayD::from_shape_vec(t.shape(), v).expect("same element count"))
    };
    let az = centered(a.data, &|_| a_zp)?;
    let bz = centered(b.data, &|i| b_zps[i % n])?;
    let acc = crate::interp::float::batched_matmul_i32(&az, &bz)?;
    let (lo, hi) = activation_range(None, out)?;
    let res = acc
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (m, s) = mults[i % n];
            (multiply_by_quantized_multiplier(v, m, s) + out_zp).clamp(lo, hi)
        })
        .collect();
    from_ints(out.dtype, &out.shape, res)
}
