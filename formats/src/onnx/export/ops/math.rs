//! Gemm, the binary ops (a squared difference as Sub and Mul), softmax, BatchNormalization and Cast.

use super::NodeArgs;
use crate::onnx::export::builder::{is_fp8, Builder};
use crate::onnx::export::proto::{attr, onnx_dtype, Attr};
use nnopt_compiler::ir::{Activation, BinaryKind, DType, E8m0Rounding, Op};
use nnopt_compiler::{Error, Result};

/// Gemm with its fused activation.
pub(crate) fn gemm(b: &mut Builder, cx: NodeArgs) -> Result<String> {
    let NodeArgs { node, name, x, .. } = cx;
    let Op::Gemm(gemm) = &node.op else {
        unreachable!("dispatched on Gemm")
    };
    let attrs = vec![
        attr("alpha", Attr::Float(gemm.alpha)),
        attr("beta", Attr::Float(gemm.beta)),
        attr("transA", Attr::Int(gemm.trans_a as i64)),
        attr("transB", Attr::Int(gemm.trans_b as i64)),
    ];
    Ok(b.simple("Gemm", name, x, attrs, gemm.activation))
}

/// A binary op with its fused activation. Bitwise ops on booleans are the logical
/// And, Or and Xor; on integers they need opset 18 and are refused.
pub(crate) fn binary(
    b: &mut Builder,
    cx: NodeArgs,
    kind: BinaryKind,
    activation: Option<Activation>,
) -> Result<String> {
    let boolean = cx.node.outputs[0].ty.dtype == DType::Bool;
    let shift = |d: &str| vec![attr("direction", Attr::Str(d.into()))];
    let (op, attrs) = match kind {
        BinaryKind::Add => ("Add", vec![]),
        BinaryKind::Sub => ("Sub", vec![]),
        BinaryKind::Mul => ("Mul", vec![]),
        BinaryKind::Div => ("Div", vec![]),
        BinaryKind::Max => ("Max", vec![]),
        BinaryKind::Min => ("Min", vec![]),
        BinaryKind::Pow => ("Pow", vec![]),
        BinaryKind::SquaredDifference => {
            let d = b.simple("Sub", &format!("{}_diff", cx.name), cx.x, vec![], None);
            return Ok(b.simple("Mul", cx.name, vec![d.clone(), d], vec![], activation));
        }
        BinaryKind::Mod => ("Mod", vec![]),
        BinaryKind::Fmod => ("Mod", vec![attr("fmod", Attr::Int(1))]),
        BinaryKind::BitAnd if boolean => ("And", vec![]),
        BinaryKind::BitOr if boolean => ("Or", vec![]),
        BinaryKind::BitXor if boolean => ("Xor", vec![]),
        BinaryKind::ShiftLeft => ("BitShift", shift("LEFT")),
        BinaryKind::ShiftRight => ("BitShift", shift("RIGHT")),
        BinaryKind::BitAnd | BinaryKind::BitOr | BinaryKind::BitXor => {
            return Err(Error::new(format!(
                "node '{}': bitwise {kind:?} on integers needs ONNX opset 18",
                cx.name
            )))
        }
    };
    Ok(b.simple(op, cx.name, cx.x, attrs, activation))
}

/// Softmax; a beta other than 1 becomes a Mul before it.
pub(crate) fn softmax(b: &mut Builder, cx: NodeArgs, axis: usize, beta: f32) -> String {
    let name = cx.name;
    let mut input = cx.x[0].clone();
    if beta != 1.0 {
        let beta_name = b.f32_scalar("softmax_beta", beta);
        input = b.simple(
            "Mul",
            &format!("{name}_beta"),
            vec![input, beta_name],
            vec![],
            None,
        );
    }
    b.simple(
        "Softmax",
        name,
        vec![input],
        vec![attr("axis", Attr::Int(axis as i64))],
        None,
    )
}

/// LogSoftmax.
pub(crate) fn log_softmax(b: &mut Builder, cx: NodeArgs, axis: usize) -> String {
    b.simple(
        "LogSoftmax",
        cx.name,
        cx.x,
        vec![attr("axis", Attr::Int(axis as i64))],
        None,
    )
}

/// BatchNormalization, which ONNX defines over channel axis 1 only.
pub(crate) fn batch_norm(
    b: &mut Builder,
    cx: NodeArgs,
    epsilon: f32,
    axis: usize,
) -> Result<String> {
    if axis != 1 {
        return Err(Error::new(format!(
            "ONNX BatchNormalization needs channel axis 1, not {axis}"
        )));
    }
    Ok(b.simple(
        "BatchNormalization",
        cx.name,
        cx.x,
        vec![attr("epsilon", Attr::Float(epsilon))],
        None,
    ))
}

/// Cast; a non-saturating cast to FP8 sets `saturate = 0`, a cast to E8M0 that does not
/// round up sets `round_mode`.
pub(crate) fn cast(
    b: &mut Builder,
    cx: NodeArgs,
    to: DType,
    saturate: bool,
    rounding: E8m0Rounding,
) -> String {
    let mut attrs = vec![attr("to", Attr::Int(onnx_dtype(to) as i64))];
    let fp8 = is_fp8(to) || to == DType::F8E8M0;
    if !saturate && fp8 {
        attrs.push(attr("saturate", Attr::Int(0)));
    }
    let mode = match rounding {
        E8m0Rounding::Up => None,
        E8m0Rounding::Down => Some("down"),
        E8m0Rounding::Nearest => Some("nearest"),
    };
    if let Some(mode) = mode.filter(|_| to == DType::F8E8M0) {
        attrs.push(attr("round_mode", Attr::Str(mode.into())));
    }
    b.simple("Cast", cx.name, cx.x, attrs, None)
}
