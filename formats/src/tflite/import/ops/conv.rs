//! CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED and MediaPipe's custom
//! `Convolution2DTransposeBias`.

use super::super::builder::{fused, padding, Builder};
use super::super::fb;
use super::Io;
use ndarray::IxDyn;
use nnopt_compiler::ir::{
    Activation, ConvAttrs, DType, GemmAttrs, Layout, Op, QuantParams, Tensor, TensorType, ValueRef,
};
use nnopt_compiler::{bail, map_tensor_same, Result};

fn options<T>(b: &Builder<'_, '_>, o: Option<T>, what: &str) -> Result<T> {
    o.ok_or_else(|| b.err(format!("missing {what}")))
}

fn positive(v: i32, what: &str) -> Result<usize> {
    if v <= 0 {
        bail!("{what} must be positive, got {v}");
    }
    Ok(v as usize)
}

/// Shape of TFLite tensor `i`, required to have rank `r`.
fn shape_of(b: &Builder<'_, '_>, i: i32, r: usize, what: &str) -> Result<Vec<usize>> {
    let s = b.ty(i)?.shape;
    if s.len() != r {
        return Err(b.err(format!("{what} must have rank {r}, got {s:?}")));
    }
    Ok(s)
}

/// The optional bias value (input `k`).
fn bias(b: &mut Builder<'_, '_>, io: &Io, k: usize) -> Result<Option<ValueRef>> {
    io.opt(k).map(|i| b.value(i)).transpose()
}

/// NHWC convolution attributes from TFLite's padding, stride and dilation options.
fn nhwc_conv_attrs(
    pad: fb::Padding,
    stride: [i32; 2],
    dilation: [i32; 2],
    xs: &[usize],
    ws: &[usize],
    group: usize,
    activation: Option<Activation>,
) -> Result<ConvAttrs> {
    let strides = [
        positive(stride[0], "stride")?,
        positive(stride[1], "stride")?,
    ];
    let dilations = [
        positive(dilation[0], "dilation")?,
        positive(dilation[1], "dilation")?,
    ];
    let (pt, pb) = padding(pad, xs[1], ws[1], strides[0], dilations[0])?;
    let (pl, pr) = padding(pad, xs[2], ws[2], strides[1], dilations[1])?;
    Ok(ConvAttrs {
        layout: Layout::Nhwc,
        strides,
        dilations,
        pads: [pt, pl, pb, pr],
        group,
        activation,
    })
}

pub fn conv2d(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = options(b, op.builtin_options_as_conv_2_doptions(), "Conv2DOptions")?;
    let (xi, wi, out) = (io.input(b, 0)?, io.input(b, 1)?, io.output(b, 0)?);
    let xs = shape_of(b, xi, 4, "input")?;
    let ws = shape_of(b, wi, 4, "weights")?;
    if ws[3] == 0 || xs[3] % ws[3] != 0 {
        return Err(b.err(format!(
            "input channels {} are not a multiple of the weights' {}",
            xs[3], ws[3]
        )));
    }
    let attrs = nhwc_conv_attrs(
        o.padding(),
        [o.stride_h(), o.stride_w()],
        [o.dilation_h_factor(), o.dilation_w_factor()],
        &xs,
        &ws,
        xs[3] / ws[3],
        fused(o.fused_activation_function())?,
    )?;
    let mut ins = vec![b.value(xi)?, b.value(wi)?];
    ins.extend(bias(b, io, 2)?);
    b.emit(Op::Conv(attrs), &ins, out)?;
    Ok(())
}

/// Depthwise weights `[1, H, W, C*M]` as OHWI `[C*M, H, W, 1]`, with a per-axis
/// quantization axis moved from 3 to 0.
fn depthwise_weights(b: &mut Builder<'_, '_>, wi: i32) -> Result<ValueRef> {
    let data = b
        .const_data(wi)?
        .ok_or_else(|| b.err("depthwise weights must be constant"))?;
    let ty = b.ty(wi)?;
    if ty.shape.len() != 4 || ty.shape[0] != 1 {
        return Err(b.err(format!(
            "depthwise weights must be [1, H, W, C*M], got {:?}",
            ty.shape
        )));
    }
    let t: Tensor = map_tensor_same!(&data, a => a
        .view()
        .permuted_axes(IxDyn(&[3, 1, 2, 0]))
        .as_standard_layout()
        .into_owned());
    let quant = ty.quant.map(|q| QuantParams {
        axis: q.axis.map(|_| 0),
        ..q
    });
    let name = b.g.fresh_name(&format!("{}_ohwi", b.tensor_name(wi)?));
    Ok(b.g.add_const(name, t, quant))
}

pub fn depthwise(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = options(
        b,
        op.builtin_options_as_depthwise_conv_2_doptions(),
        "DepthwiseConv2DOptions",
    )?;
    let (xi, wi, out) = (io.input(b, 0)?, io.input(b, 1)?, io.output(b, 0)?);
    let xs = shape_of(b, xi, 4, "input")?;
    let ws = shape_of(b, wi, 4, "weights")?;
    if xs[3] == 0 || ws[3] % xs[3] != 0 {
        return Err(b.err(format!(
            "depthwise weights {ws:?} do not fit {} input channels",
            xs[3]
        )));
    }
    let attrs = nhwc_conv_attrs(
        o.padding(),
        [o.stride_h(), o.stride_w()],
        [o.dilation_h_factor(), o.dilation_w_factor()],
        &xs,
        &ws,
        xs[3],
        fused(o.fused_activation_function())?,
    )?;
    let mut ins = vec![b.value(xi)?, depthwise_weights(b, wi)?];
    ins.extend(bias(b, io, 2)?);
    b.emit(Op::Conv(attrs), &ins, out)?;
    Ok(())
}

/// Adds a NHWC ConvTranspose producing `out`, with TFLite-style padding of `total`
/// elements per axis split as `total / 2` before, the rest after (negative after-padding
/// becomes output padding).
#[allow(clippy::too_many_arguments)]
fn add_conv_transpose(
    b: &mut Builder<'_, '_>,
    ins: &[ValueRef],
    in_hw: [usize; 2],
    k: [usize; 2],
    strides: [usize; 2],
    before: [usize; 2],
    out_shape: &[usize],
    activation: Option<Activation>,
    out: i32,
) -> Result<()> {
    let mut after = [0usize; 2];
    let mut output_padding = [0usize; 2];
    for a in 0..2 {
        let full = strides[a] * (in_hw[a].max(1) - 1) + k[a];
        let want = out_shape[1 + a] + before[a];
        if full >= want {
            after[a] = full - want;
        } else {
            output_padding[a] = want - full;
        }
    }
    let attrs = ConvAttrs {
        layout: Layout::Nhwc,
        strides,
        dilations: [1, 1],
        pads: [before[0], before[1], after[0], after[1]],
        group: 1,
        activation,
    };
    b.emit(
        Op::ConvTranspose {
            conv: attrs,
            output_padding,
        },
        ins,
        out,
    )?;
    Ok(())
}

pub fn transpose_conv(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = options(
        b,
        op.builtin_options_as_transpose_conv_options(),
        "TransposeConvOptions",
    )?;
    let (wi, xi, out) = (io.input(b, 1)?, io.input(b, 2)?, io.output(b, 0)?);
    let xs = shape_of(b, xi, 4, "input")?;
    let ws = shape_of(b, wi, 4, "weights")?;
    let os = shape_of(b, out, 4, "output")?;
    let strides = [
        positive(o.stride_h(), "stride")?,
        positive(o.stride_w(), "stride")?,
    ];
    // TFLite pads as for the forward conv from the output back to the input.
    let (pt, _) = padding(o.padding(), os[1], ws[1], strides[0], 1)?;
    let (pl, _) = padding(o.padding(), os[2], ws[2], strides[1], 1)?;
    let mut ins = vec![b.value(xi)?, b.value(wi)?];
    ins.extend(bias(b, io, 3)?);
    let act = fused(o.fused_activation_function())?;
    add_conv_transpose(
        b,
        &ins,
        [xs[1], xs[2]],
        [ws[1], ws[2]],
        strides,
        [pt, pl],
        &os,
        act,
        out,
    )
}

/// MediaPipe's `Convolution2DTransposeBias`: inputs (x, weights OHWI, bias); its custom
/// options are a raw `TfLiteTransposeConvParams` {padding, stride_width, stride_height}
/// (three little-endian int32). SAME padding totals `max(0, k - (in - 1) % s - 1)`.
pub fn transpose_conv_bias(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let opts = op
        .custom_options()
        .map(|v| v.bytes().to_vec())
        .unwrap_or_default();
    if opts.len() < 12 {
        return Err(b.err(format!(
            "Convolution2DTransposeBias options must be 12 bytes, got {}",
            opts.len()
        )));
    }
    let word = |k: usize| i32::from_le_bytes(opts[4 * k..4 * k + 4].try_into().expect("4 bytes"));
    let (pad_kind, sw, sh) = (word(0), word(1), word(2));
    let strides = [positive(sh, "stride")?, positive(sw, "stride")?];
    let (xi, wi, bi, out) = (
        io.input(b, 0)?,
        io.input(b, 1)?,
        io.input(b, 2)?,
        io.output(b, 0)?,
    );
    let xs = shape_of(b, xi, 4, "input")?;
    let ws = shape_of(b, wi, 4, "weights")?;
    let os = shape_of(b, out, 4, "output")?;
    // TfLitePadding: 1 = SAME, 2 = VALID.
    let total = |k: usize, i: usize, s: usize| match pad_kind {
        1 => Ok(k.saturating_sub((i.max(1) - 1) % s + 1)),
        2 => Ok(0),
        p => Err(b.err(format!(
            "Convolution2DTransposeBias padding {p} is not supported"
        ))),
    };
    let th = total(ws[1], xs[1], strides[0])?;
    let tw = total(ws[2], xs[2], strides[1])?;
    let ins = [b.value(xi)?, b.value(wi)?, b.value(bi)?];
    add_conv_transpose(
        b,
        &ins,
        [xs[1], xs[2]],
        [ws[1], ws[2]],
        strides,
        [th / 2, tw / 2],
        &os,
        None,
        out,
    )
}

pub fn fully_connected(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = options(
        b,
        op.builtin_options_as_fully_connected_options(),
        "FullyConnectedOptions",
    )?;
    if o.weights_format() != fb::FullyConnectedOptionsWeightsFormat::DEFAULT {
        return Err(b.err("shuffled FULLY_CONNECTED weights are not supported"));
    }
    let (xi, wi, out) = (io.input(b, 0)?, io.input(b, 1)?, io.output(b, 0)?);
    let xt = b.ty(xi)?;
    let wt = b.ty(wi)?;
    if wt.shape.len() != 2 {
        return Err(b.err(format!("weights must be [O, I], got {:?}", wt.shape)));
    }
    if xt.dtype == DType::F32 && wt.dtype != DType::F32 && !b.is_f16(wi)? {
        return Err(b.err("hybrid (float input, integer weights) FULLY_CONNECTED is not supported"));
    }
    let (n_out, k) = (wt.shape[0], wt.shape[1]);
    let total = xt.num_elements();
    if k == 0 || total % k != 0 {
        return Err(b.err(format!(
            "input {:?} does not fit weights {:?}",
            xt.shape, wt.shape
        )));
    }
    let rows = total / k;
    let mut x = b.value(xi)?;
    if xt.shape != [rows, k] {
        let ty = TensorType {
            shape: vec![rows, k],
            ..xt.clone()
        };
        x = b.add(
            Op::Reshape {
                shape: vec![rows, k],
            },
            &[x],
            ty,
        )?;
    }
    let mut ins = vec![x, b.value(wi)?];
    ins.extend(bias(b, io, 2)?);
    let gemm = Op::Gemm(GemmAttrs::fully_connected(
        true,
        fused(o.fused_activation_function())?,
    ));
    let out_ty = b.ty(out)?;
    if out_ty.shape == [rows, n_out] {
        b.emit(gemm, &ins, out)?;
    } else {
        let ty = TensorType {
            shape: vec![rows, n_out],
            ..out_ty.clone()
        };
        let y = b.add(gemm, &ins, ty)?;
        b.emit(
            Op::Reshape {
                shape: out_ty.shape.clone(),
            },
            &[y],
            out,
        )?;
    }
    Ok(())
}
