//! Gemm, MatMul, Det, elementwise binary ops, activations (and the SwiGLU gate), Softmax,
//! BatchNormalization, Cast.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use super::{dtype_attr, opt_const_floats};
use nnopt_compiler::ir::{
    Activation, BinaryKind, DType, E8m0Rounding, GemmAttrs, Op, Tensor, ValueRef,
};
use nnopt_compiler::Result;

/// Gemm.
pub(super) fn gemm(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let mut ins = vec![cx.input(0)?, cx.input(1)?];
    let beta = cx.float("beta", 1.0)?;
    ins.extend(cx.opt_input(2));
    let op = Op::Gemm(GemmAttrs {
        alpha: cx.float("alpha", 1.0)?,
        beta,
        trans_a: cx.int("transA", 0)? != 0,
        trans_b: cx.int("transB", 0)? != 0,
        activation: None,
    });
    imp.emit(op, &ins, cx.out(0))
}

/// Opset 1–6 broadcasting with an explicit axis: `b`'s dimensions line up with `a`'s from
/// `axis` on, so `b` is reshaped with size-1 dimensions around them.
fn legacy_broadcast(
    imp: &mut Importer,
    cx: &NodeCtx,
    a: ValueRef,
    b: ValueRef,
) -> Result<ValueRef> {
    let (ra, sb) = (imp.shape(a).len(), imp.shape(b));
    let axis = cx.axis(cx.int("axis", 0)?, ra)?;
    if axis + sb.len() > ra {
        return Err(cx.err(format!(
            "broadcast axis {axis} leaves no room for a rank-{} operand in rank {ra}",
            sb.len()
        )));
    }
    let mut shape = vec![1; axis];
    shape.extend(&sb);
    shape.resize(ra, 1);
    imp.reshape(b, shape, &format!("{}_broadcast", cx.out(0)))
}

/// MatMul.
pub(super) fn matmul(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    imp.emit(Op::MatMul, &[cx.input(0)?, cx.input(1)?], cx.out(0))
}

/// Det.
pub(super) fn det(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    imp.emit(Op::Det, &[cx.input(0)?], cx.out(0))
}

/// Add, Sub, Mul, Div, Pow, Mod, and the variadic Max, Min, Sum and Mean (chained
/// pairwise; Mean then divides by the count).
pub(super) fn binary(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let kind = match cx.op_type() {
        "Add" | "Sum" | "Mean" => BinaryKind::Add,
        "Sub" => BinaryKind::Sub,
        "Mul" => BinaryKind::Mul,
        "Div" => BinaryKind::Div,
        "Max" => BinaryKind::Max,
        "Pow" => return pow(imp, cx),
        "Mod" if cx.int("fmod", 0)? != 0 => BinaryKind::Fmod,
        "Mod" => BinaryKind::Mod,
        _ => BinaryKind::Min,
    };
    let mut ins: Vec<ValueRef> = (0..cx.inputs.len())
        .map(|i| cx.input(i))
        .collect::<Result<_>>()?;
    if cx.int("broadcast", 0)? != 0 && cx.has("axis") && ins.len() == 2 {
        ins[1] = legacy_broadcast(imp, cx, ins[0], ins[1])?;
    }
    let Some((&first, rest)) = ins.split_first() else {
        return Err(cx.err("needs at least one input"));
    };
    if rest.is_empty() {
        if matches!(cx.op_type(), "Max" | "Min" | "Sum" | "Mean") {
            return Ok(first);
        }
        return Err(cx.err("needs two inputs"));
    }
    let mean = cx.op_type() == "Mean";
    let out = if mean {
        format!("{}_sum", cx.out(0))
    } else {
        cx.out(0).to_string()
    };
    let mut acc = first;
    for (i, &v) in rest.iter().enumerate() {
        let name = if i + 1 == rest.len() {
            out.to_string()
        } else {
            format!("{out}_part{i}")
        };
        acc = imp.emit(
            Op::Binary {
                kind,
                activation: None,
            },
            &[acc, v],
            &name,
        )?;
    }
    if mean {
        let dtype = imp.ty(acc).dtype;
        let n = Tensor::from_f64s(dtype, &[], &[ins.len() as f64])
            .ok_or_else(|| cx.err(format!("Mean of {dtype} values is not supported")))?;
        let n = imp.add_const(&format!("{}_count", cx.out(0)), n, None);
        return imp.emit(
            Op::Binary {
                kind: BinaryKind::Div,
                activation: None,
            },
            &[acc, n],
            cx.out(0),
        );
    }
    Ok(acc)
}

/// Einsum.
pub(super) fn einsum(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins: Vec<ValueRef> = (0..cx.inputs.len())
        .map(|i| cx.input(i))
        .collect::<Result<_>>()?;
    let equation = cx.string("equation", "")?;
    imp.emit(Op::Einsum { equation }, &ins, cx.out(0))
}

/// Pow; an exponent of another type is cast to the base's type first.
fn pow(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (base, mut exponent) = (cx.input(0)?, cx.input(1)?);
    let to = imp.ty(base).dtype;
    if imp.ty(exponent).dtype != to {
        let name = format!("{}_exponent", cx.out(0));
        exponent = imp.emit(Op::cast(to), &[exponent], &name)?;
    }
    imp.emit(
        Op::Binary {
            kind: BinaryKind::Pow,
            activation: None,
        },
        &[base, exponent],
        cx.out(0),
    )
}

/// Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish.
pub(super) fn activation(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let act = match cx.op_type() {
        "Relu" => Activation::Relu,
        "LeakyRelu" => Activation::LeakyRelu {
            alpha: cx.float("alpha", 0.01)?,
        },
        "Sigmoid" => Activation::Sigmoid,
        "Tanh" => Activation::Tanh,
        "HardSigmoid" => Activation::HardSigmoid {
            alpha: cx.float("alpha", 0.2)?,
            beta: cx.float("beta", 0.5)?,
        },
        _ => Activation::HardSwish,
    };
    imp.emit(Op::Activation { act }, &[cx.input(0)?], cx.out(0))
}

/// SwiGLU: `a * sigmoid(alpha * a) * b` on equal shapes, each step in the inputs' type.
pub(super) fn swiglu(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let ty = imp.ty(a).clone();
    if !ty.dtype.is_float() || imp.ty(b) != &ty {
        return Err(cx.err(format!(
            "A and B must be floats of one type and shape, got {ty} and {}",
            imp.ty(b)
        )));
    }
    let mut s = Steps::new(imp, format!("{}_swiglu", cx.out(0)));
    let alpha = cx.float("alpha", 1.0)?;
    let mut x = a;
    if alpha != 1.0 {
        let c = s.constant(ty.dtype, &[], &[alpha as f64])?;
        x = s.binary(BinaryKind::Mul, a, c)?;
    }
    let act = Activation::Sigmoid;
    let gate = s.emit(Op::Activation { act }, &[x])?;
    let swish = s.binary(BinaryKind::Mul, a, gate)?;
    let op = Op::Binary {
        kind: BinaryKind::Mul,
        activation: None,
    };
    s.imp.emit(op, &[swish, b], cx.out(0))
}

/// Clip: bounds from attributes (opset < 11) or constant inputs. A missing bound is
/// `f32::MIN`/`f32::MAX` (finite, so that the IR text form can print it).
pub(super) fn clip(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (min, max) = if imp.opset < 11 {
        (cx.float("min", f32::MIN)?, cx.float("max", f32::MAX)?)
    } else {
        let bound = |i: usize, default: f32| -> Result<f32> {
            match opt_const_floats(imp, cx, i, if i == 1 { "min" } else { "max" })? {
                None => Ok(default),
                Some(v) if v.len() == 1 => Ok(v[0] as f32),
                Some(v) => Err(cx.err(format!(
                    "clip bound {i} must be a scalar, got {} values",
                    v.len()
                ))),
            }
        };
        (bound(1, f32::MIN)?, bound(2, f32::MAX)?)
    };
    imp.emit(
        Op::Activation {
            act: Activation::Clip { min, max },
        },
        &[cx.input(0)?],
        cx.out(0),
    )
}

/// PRelu. A 1-D slope of one value per channel that does not broadcast numpy-style (the
/// pre-opset-7 convention) is reshaped to `[C, 1, ...]`.
pub(super) fn prelu(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, mut slope) = (cx.input(0)?, cx.input(1)?);
    let (xs, ss) = (imp.shape(x), imp.shape(slope));
    if ss.len() == 1 && xs.len() >= 3 && ss[0] == xs[1] && xs[xs.len() - 1] != ss[0] {
        let mut shape = vec![1; xs.len() - 1];
        shape[0] = ss[0];
        slope = imp.reshape(slope, shape, &format!("{}_slope", cx.out(0)))?;
    }
    imp.emit(Op::PRelu, &[x, slope], cx.out(0))
}

/// Softmax / LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis`, which is
/// imported as reshape + softmax over the last axis + reshape when `axis` is not last.
pub(super) fn softmax(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let shape = imp.shape(x);
    let rank = shape.len();
    let log = cx.op_type() == "LogSoftmax";
    let make = |axis: usize| {
        if log {
            Op::LogSoftmax { axis }
        } else {
            Op::Softmax { axis, beta: 1.0 }
        }
    };
    let out = cx.out(0).to_string();
    if rank == 0 {
        return Err(cx.err("softmax of a scalar"));
    }
    if imp.opset >= 13 {
        let axis = cx.axis(cx.int("axis", -1)?, rank)?;
        return imp.emit(make(axis), &[x], &out);
    }
    let axis = cx.axis(cx.int("axis", 1)?, rank)?;
    if axis + 1 == rank {
        return imp.emit(make(axis), &[x], &out);
    }
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis..].iter().product();
    let flat = imp.reshape(x, vec![outer, inner], &format!("{out}_2d"))?;
    let y = imp.emit(make(1), &[flat], &format!("{out}_flat"))?;
    imp.reshape(y, shape, &out)
}

/// BatchNormalization (inference form).
pub(super) fn batch_norm(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    if cx.int("training_mode", 0)? != 0 {
        return Err(cx.err("training_mode=1 is not supported"));
    }
    if cx.int("spatial", 1)? != 1 {
        return Err(cx.err("spatial=0 is not supported"));
    }
    let ins: Vec<ValueRef> = (0..5).map(|i| cx.input(i)).collect::<Result<_>>()?;
    if imp.shape(ins[0]).len() < 2 {
        return Err(cx.err("input must have rank >= 2"));
    }
    let op = Op::BatchNorm {
        epsilon: cx.float("epsilon", 1e-5)?,
        axis: 1,
    };
    imp.emit(op, &ins, cx.out(0))
}

/// Cast, and CastLike (to the type of input 1).
pub(super) fn cast(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let to = if cx.op_type() == "CastLike" {
        imp.ty(cx.input(1)?).dtype
    } else {
        dtype_attr(cx, cx.int("to", 0)?)?
    };
    // `saturate` (opset 19) only means something for FP8 targets, `round_mode` (opset 24)
    // for E8M0.
    let fp8 = matches!(
        to,
        DType::F8E4M3 | DType::F8E5M2 | DType::F8E4M3Fnuz | DType::F8E5M2Fnuz | DType::F8E8M0
    );
    let saturate = !fp8 || cx.int("saturate", 1)? != 0;
    let rounding = match cx.string("round_mode", "up")?.as_str() {
        _ if to != DType::F8E8M0 => E8m0Rounding::Up,
        "up" => E8m0Rounding::Up,
        "down" => E8m0Rounding::Down,
        "nearest" => E8m0Rounding::Nearest,
        m => return Err(cx.err(format!("round_mode '{m}' is not supported"))),
    };
    if imp.ty(x).dtype == to && imp.ty(x).quant.is_none() {
        return Ok(x);
    }
    let op = Op::Cast {
        to,
        saturate,
        rounding,
    };
    imp.emit(op, &[x], cx.out(0))
}

/// BitCast: the same bytes read as another element type of the same size.
pub(super) fn bit_cast(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let to = dtype_attr(cx, cx.int("to", 0)?)?;
    imp.emit(Op::BitCast { to }, &[x], cx.out(0))
}
