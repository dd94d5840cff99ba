//! CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, with TFLite's SAME / VALID padding
//! (other explicit paddings of a convolution become a PAD before it).

use crate::tflite::export::layout::{permute_quant, permute_tensor, TO_NHWC};
use crate::tflite::export::lower::Lowerer;
use crate::tflite::export::model::{EmptyOptions, Options};
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{ConvAttrs, GemmAttrs, Layout, NodeIndex, Op, Tensor, TensorType};
use nnopt_compiler::Result;

/// Output length of one axis for VALID / SAME padding, as TFLite computes it.
pub(super) fn out_len(input: usize, eff_kernel: usize, stride: usize, same: bool) -> usize {
    if same {
        input.div_ceil(stride)
    } else {
        (input + stride).saturating_sub(eff_kernel) / stride
    }
}

/// TFLite's SAME padding `(before, after)` of one axis.
fn same_pads(input: usize, eff_kernel: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + eff_kernel).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// The TFLite padding equal to the IR's `[top, left, bottom, right]` pads over an NHWC
/// input of spatial size `hw`, or `None` when neither SAME nor VALID matches.
pub(super) fn padding_of(
    hw: [usize; 2],
    eff_kernel: [usize; 2],
    strides: [usize; 2],
    pads: [usize; 4],
) -> Option<fb::Padding> {
    if pads == [0; 4] {
        return Some(fb::Padding::VALID);
    }
    let (t, b) = same_pads(hw[0], eff_kernel[0], strides[0]);
    let (l, r) = same_pads(hw[1], eff_kernel[1], strides[1]);
    (pads == [t, l, b, r]).then_some(fb::Padding::SAME)
}

/// `v` as an int32 operator argument, or an error naming it as `what`.
pub(super) fn i32_of(v: usize, what: &str, l: &Lowerer<'_>) -> Result<i32> {
    i32::try_from(v).map_err(|_| l.err(format!("{what} {v} does not fit int32")))
}

pub fn conv(l: &mut Lowerer<'_>, n: NodeIndex, a: &ConvAttrs) -> Result<()> {
    let ins = l.g.node_inputs(n);
    let nchw = a.layout == Layout::Nchw;
    let mut x = if nchw {
        l.nhwc(ins[0])?
    } else {
        l.logical(ins[0])?
    };
    let xs = l.m.ty(x).shape.clone();
    let w =
        l.g.const_value(ins[1])
            .ok_or_else(|| l.err("convolution weights must be constant"))?;
    let wty = l.ty(ins[1]);
    if xs.len() != 4 || wty.shape.len() != 4 {
        return Err(l.err("only 2-D convolutions have a TFLite operator"));
    }
    // Weights to OHWI.
    let (w, wq) = if nchw {
        (
            permute_tensor(w, &TO_NHWC),
            permute_quant(&wty.quant, &TO_NHWC),
        )
    } else {
        (w.clone(), wty.quant.clone())
    };
    let ws = w.shape().to_vec();
    let eff = [
        (ws[1] - 1) * a.dilations[0] + 1,
        (ws[2] - 1) * a.dilations[1] + 1,
    ];
    let padding = match padding_of([xs[1], xs[2]], eff, a.strides, a.pads) {
        Some(p) => p,
        None => {
            x = explicit_pad(l, x, a.pads, Fill::Zero)?;
            fb::Padding::VALID
        }
    };
    let depthwise = a.group > 1 && a.group == xs[3] && ws[3] == 1;
    if a.group > 1 && !depthwise {
        return Err(l.err(format!(
            "grouped convolution (group {} over {} channels) has no TFLite operator",
            a.group, xs[3]
        )));
    }
    let wname = format!("{}_weights", l.g.value(ins[1]).name);
    let (code, wt) = if depthwise {
        // OHWI [C*M, H, W, 1] to TFLite's [1, H, W, C*M].
        let perm = [3, 1, 2, 0];
        let t = permute_tensor(&w, &perm);
        let ty = t.tensor_type().with_quant(permute_quant(&wq, &perm));
        (
            fb::BuiltinOperator::DEPTHWISE_CONV_2D,
            l.const_tensor(&wname, &t, ty),
        )
    } else {
        let ty = w.tensor_type().with_quant(wq);
        (fb::BuiltinOperator::CONV_2D, l.const_tensor(&wname, &w, ty))
    };
    let mut operands = vec![x, wt];
    if let Some(&b) = ins.get(2) {
        operands.push(l.logical(b)?);
    }
    let (sh, sw) = (
        i32_of(a.strides[0], "stride", l)?,
        i32_of(a.strides[1], "stride", l)?,
    );
    let (dh, dw) = (
        i32_of(a.dilations[0], "dilation", l)?,
        i32_of(a.dilations[1], "dilation", l)?,
    );
    let multiplier = i32_of(ws[0] / xs[3].max(1), "depth multiplier", l)?;
    l.emit_fused(n, code, operands, nchw, a.activation, |f| {
        if depthwise {
            Options::DepthwiseConv2D(fb::DepthwiseConv2DOptionsArgs {
                padding,
                stride_w: sw,
                stride_h: sh,
                depth_multiplier: multiplier,
                fused_activation_function: f,
                dilation_w_factor: dw,
                dilation_h_factor: dh,
            })
        } else {
            Options::Conv2D(fb::Conv2DOptionsArgs {
                padding,
                stride_w: sw,
                stride_h: sh,
                fused_activation_function: f,
                dilation_w_factor: dw,
                dilation_h_factor: dh,
                ..Default::default()
            })
        }
    })
}

/// What an explicit padding fills with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fill {
    /// Real 0: the zero point of quantized tensors (PAD).
    Zero,
    /// The lowest value of the type, which no max pool picks over a real value (PADV2).
    Lowest,
}

/// A PAD (or PADV2) of NHWC tensor `x` by `[top, left, bottom, right]`.
pub(super) fn explicit_pad(
    l: &mut Lowerer<'_>,
    x: i32,
    pads: [usize; 4],
    fill: Fill,
) -> Result<i32> {
    let ty = l.m.ty(x).clone();
    let p = [
        0,
        0,
        pads[0] as i32,
        pads[2] as i32,
        pads[1] as i32,
        pads[3] as i32,
        0,
        0,
    ];
    let pt = l.const_i32("pads", &p, &[4, 2]);
    let mut ins = vec![x, pt];
    if fill == Fill::Lowest {
        let lowest = match ty.dtype.int_range() {
            Some((lo, _)) => lo as f64,
            None => f64::from(f32::MIN),
        };
        let t = Tensor::from_f64s(ty.dtype, &[1], &[lowest])
            .ok_or_else(|| l.err("no lowest value to pad with"))?;
        let vty = t.tensor_type().with_quant(ty.quant.clone());
        ins.push(l.const_tensor(&format!("{}_pad_value", l.node), &t, vty));
    }
    let mut shape = ty.shape.clone();
    shape[1] += pads[0] + pads[2];
    shape[2] += pads[1] + pads[3];
    let name = format!("{}_padded", l.node);
    let out = l.new_tensor(&name, TensorType { shape, ..ty }, None);
    let (code, options) = match fill {
        Fill::Zero => (fb::BuiltinOperator::PAD, EmptyOptions::Pad),
        Fill::Lowest => (fb::BuiltinOperator::PADV2, EmptyOptions::PadV2),
    };
    l.op(code, ins, vec![out], Options::Empty(options));
    Ok(out)
}

/// Gemm `x @ w^T + b` (2-D `x`, constant `w`) as FULLY_CONNECTED.
pub fn fully_connected(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::Gemm(GemmAttrs {
        alpha,
        beta,
        trans_a,
        trans_b,
        activation,
    }) = l.g.node(n).op.clone()
    else {
        unreachable!("dispatched on Gemm")
    };
    let ins = l.g.node_inputs(n);
    let mut x = l.logical(ins[0])?;
    if trans_a {
        // FULLY_CONNECTED reads rows of A: a transposed A is transposed back first.
        let ty = l.ty(ins[0]).clone();
        if ty.shape.len() != 2 {
            return Err(l.err(format!("Gemm's A must be 2-D, got {ty}")));
        }
        let quant = permute_quant(&ty.quant, &[1, 0]);
        let shape = vec![ty.shape[1], ty.shape[0]];
        let name = format!("{}_a", l.node);
        let t = l.new_tensor(&name, TensorType { shape, quant, ..ty }, None);
        l.transpose_op(x, &[1, 0], t);
        x = t;
    }
    let w =
        l.g.const_value(ins[1])
            .ok_or_else(|| l.err("FULLY_CONNECTED needs constant weights"))?;
    let wty = l.ty(ins[1]);
    // alpha and beta fold into float constants; quantized ones must not need them.
    let scale = |t: &Tensor, k: f32| -> Option<Tensor> {
        match t {
            Tensor::F32(a) => Some(Tensor::F32(a.mapv(|v| v * k))),
            _ => None,
        }
    };
    let wt = if trans_b && alpha == 1.0 {
        l.logical(ins[1])?
    } else {
        let t = if trans_b {
            w.clone()
        } else {
            permute_tensor(w, &[1, 0])
        };
        let t = if alpha == 1.0 {
            t
        } else {
            scale(&t, alpha).ok_or_else(|| l.err("Gemm alpha on integer weights"))?
        };
        let perm: &[usize] = if trans_b { &[0, 1] } else { &[1, 0] };
        let ty = t.tensor_type().with_quant(permute_quant(&wty.quant, perm));
        let name = format!("{}_fc", l.g.value(ins[1]).name);
        l.const_tensor(&name, &t, ty)
    };
    let mut operands = vec![x, wt];
    if let Some(&c) = ins.get(2) {
        let cty = l.ty(c);
        let o = l.m.ty(wt).shape[0];
        let data = l.g.const_value(c).filter(|_| cty.num_elements() == o);
        let Some(data) = data else {
            return Err(l.err("the FULLY_CONNECTED bias must be a constant of [units] elements"));
        };
        let b = if cty.shape == [o] && beta == 1.0 {
            l.logical(c)?
        } else {
            let t = data.reshaped(&[o]).expect("element count checked");
            let t = if beta == 1.0 {
                t
            } else {
                scale(&t, beta).ok_or_else(|| l.err("Gemm beta on an integer bias"))?
            };
            let ty = t.tensor_type().with_quant(cty.quant.clone());
            let name = format!("{}_fc", l.g.value(c).name);
            l.const_tensor(&name, &t, ty)
        };
        operands.push(b);
    }
    l.emit_fused(
        n,
        fb::BuiltinOperator::FULLY_CONNECTED,
        operands,
        false,
        activation,
        |f| {
            Options::FullyConnected(fb::FullyConnectedOptionsArgs {
                fused_activation_function: f,
                ..Default::default()
            })
        },
    )
}
