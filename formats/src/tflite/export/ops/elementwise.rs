//! Elementwise operators (ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE,
//! PRELU), activations, functions of one operand (GELU, RSQRT, EXP), SOFTMAX /
//! LOG_SOFTMAX, QUANTIZE / DEQUANTIZE / CAST and BATCH_MATMUL.

use crate::tflite::export::lower::{fused_code, Lowerer};
use crate::tflite::export::model::{EmptyOptions, Options};
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{Activation, BinaryKind, NodeIndex, Op, UnaryFunc, ValueRef};
use nnopt_compiler::Result;

/// Operands of an elementwise op: NHWC storage when a 4-D operand already is stored so
/// (lower-rank constants are broadcast to match), else logical tensors.
fn elementwise_operands(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<(Vec<i32>, bool)> {
    let ins = l.g.node_inputs(n);
    let out_rank = l.ty(ValueRef::first(n)).shape.len();
    let nhwc = out_rank == 4
        && ins.iter().any(|&v| l.is_nhwc(v))
        && ins
            .iter()
            .all(|&v| l.ty(v).shape.len() == 4 || l.g.const_value(v).is_some());
    let ts = ins
        .iter()
        .map(|&v| {
            if nhwc {
                l.nhwc_operand(v)
            } else {
                l.logical(v)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((ts, nhwc))
}

pub fn binary(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let (ins, nhwc) = elementwise_operands(l, n)?;
    use fb::BuiltinOperator as B;
    let (kind, act) = match &l.g.node(n).op {
        Op::Binary { kind, activation } => (Some(*kind), *activation),
        _ => (None, None),
    };
    let (code, opts): (_, fn(fb::ActivationFunctionType) -> Options) = match kind {
        None => (B::PRELU, |_| Options::None),
        Some(BinaryKind::Add) => (B::ADD, Options::Add),
        Some(BinaryKind::Sub) => (B::SUB, Options::Sub),
        Some(BinaryKind::Mul) => (B::MUL, Options::Mul),
        Some(BinaryKind::Div) => (B::DIV, Options::Div),
        Some(BinaryKind::Max) => (B::MAXIMUM, |_| Options::Empty(EmptyOptions::Maximum)),
        Some(BinaryKind::Min) => (B::MINIMUM, |_| Options::Empty(EmptyOptions::Maximum)),
        Some(BinaryKind::SquaredDifference) => (B::SQUARED_DIFFERENCE, |_| {
            Options::Empty(EmptyOptions::SquaredDifference)
        }),
        Some(other) => return Err(l.err(format!("binary {other:?} has no TFLite export yet"))),
    };
    // MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and PRELU have no fused-activation field.
    match act {
        Some(a)
            if matches!(
                code,
                B::MAXIMUM | B::MINIMUM | B::SQUARED_DIFFERENCE | B::PRELU
            ) =>
        {
            let o = opts(fb::ActivationFunctionType::NONE);
            l.emit_then_activation(n, code, ins, nhwc, a, o)
        }
        _ => l.emit_fused(n, code, ins, nhwc, act, opts),
    }
}

/// The standalone TFLite operator computing activation `a`.
pub fn activation_op(l: &Lowerer<'_>, a: Activation) -> Result<(fb::BuiltinOperator, Options)> {
    use fb::ActivationFunctionType as F;
    use fb::BuiltinOperator as B;
    Ok(match a {
        Activation::Sigmoid => (B::LOGISTIC, Options::None),
        Activation::Tanh => (B::TANH, Options::None),
        Activation::HardSwish => (B::HARD_SWISH, Options::Empty(EmptyOptions::HardSwish)),
        Activation::LeakyRelu { alpha } => (B::LEAKY_RELU, Options::LeakyRelu { alpha }),
        other => match fused_code(other) {
            Some(F::RELU) => (B::RELU, Options::None),
            Some(F::RELU6) => (B::RELU6, Options::None),
            Some(F::RELU_N1_TO_1) => (B::RELU_N1_TO_1, Options::None),
            _ => return Err(l.err(format!("activation {other:?} has no TFLite operator"))),
        },
    })
}

/// A unary op on the operand as it is stored (layout-agnostic).
fn unary(
    l: &mut Lowerer<'_>,
    n: NodeIndex,
    code: fb::BuiltinOperator,
    options: Options,
) -> Result<()> {
    let x = l.g.node_inputs(n)[0];
    let s = l.stored(x)?;
    let out = l.define(n, 0, s.nhwc);
    l.op(code, vec![s.tensor], vec![out], options);
    Ok(())
}

pub fn activation(l: &mut Lowerer<'_>, n: NodeIndex, a: Activation) -> Result<()> {
    let (code, options) = activation_op(l, a)?;
    unary(l, n, code, options)
}

/// GELU, RSQRT and EXP, the functions of one operand TFLite has an operator for here.
pub fn unary_func(l: &mut Lowerer<'_>, n: NodeIndex, func: UnaryFunc) -> Result<()> {
    let (code, options) = match func {
        UnaryFunc::Gelu { tanh } => (
            fb::BuiltinOperator::GELU,
            Options::Gelu { approximate: tanh },
        ),
        UnaryFunc::Rsqrt => (fb::BuiltinOperator::RSQRT, Options::None),
        UnaryFunc::Exp => (fb::BuiltinOperator::EXP, Options::Empty(EmptyOptions::Exp)),
        other => return Err(l.err(format!("{other:?} has no TFLite export yet"))),
    };
    unary(l, n, code, options)
}

/// QUANTIZE (float to int, or int to int requantization), DEQUANTIZE and CAST.
pub fn convert(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    use fb::BuiltinOperator as B;
    let (code, e) = match &l.g.node(n).op {
        Op::Quantize { .. } => (B::QUANTIZE, EmptyOptions::Quantize),
        Op::Dequantize => (B::DEQUANTIZE, EmptyOptions::Dequantize),
        _ => (B::CAST, EmptyOptions::Cast),
    };
    unary(l, n, code, Options::Empty(e))
}

/// SOFTMAX / LOG_SOFTMAX over the last axis (or over the channels of an NHWC-stored
/// NCHW value).
pub fn softmax(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let x = l.g.node_inputs(n)[0];
    let rank = l.ty(x).shape.len();
    let (axis, code, options) = match l.g.node(n).op {
        Op::Softmax { axis, beta } => (
            axis,
            fb::BuiltinOperator::SOFTMAX,
            Options::Softmax { beta },
        ),
        Op::LogSoftmax { axis } => (
            axis,
            fb::BuiltinOperator::LOG_SOFTMAX,
            Options::Empty(EmptyOptions::LogSoftmax),
        ),
        _ => unreachable!("dispatched on softmax"),
    };
    if l.is_nhwc(x) && axis == 1 {
        let t = l.nhwc(x)?;
        let out = l.define(n, 0, true);
        l.op(code, vec![t], vec![out], options);
        return Ok(());
    }
    if axis + 1 != rank {
        return Err(l.err(format!(
            "TFLite's softmax runs over the last axis, not axis {axis} of rank {rank}"
        )));
    }
    let t = l.logical(x)?;
    let out = l.define(n, 0, false);
    l.op(code, vec![t], vec![out], options);
    Ok(())
}

/// MatMul of two values as BATCH_MATMUL.
pub fn batch_matmul(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let ins = l.g.node_inputs(n);
    let (a, b) = (l.logical(ins[0])?, l.logical(ins[1])?);
    let out = l.define(n, 0, false);
    l.op(
        fb::BuiltinOperator::BATCH_MATMUL,
        vec![a, b],
        vec![out],
        Options::BatchMatMul {
            adj_x: false,
            adj_y: false,
        },
    );
    Ok(())
}
