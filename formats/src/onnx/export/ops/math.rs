//! Gemm, the binary ops, softmax, BatchNormalization and Cast.

use super::NodeArgs;
use crate::onnx::export::builder::{is_fp8, Builder};
use crate::onnx::export::proto::{attr, onnx_dtype, Attr};
use nnopt_compiler::ir::{Activation, BinaryKind, DType, Op};
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

/// Add, Sub, Mul, Div, Max and Min with their fused activation.
pub(crate) fn binary(
    b: &mut Builder,
    cx: NodeArgs,
    kind: BinaryKind,
    activation: Option<Activation>,
) -> String {
    let op = match kind {
        BinaryKind::Add => "Add",
        BinaryKind::Sub => "Sub",
        BinaryKind::Mul => "Mul",
        BinaryKind::Div => "Div",
        BinaryKind::Max => "Max",
        BinaryKind::Min => "Min",
    };
    b.simple(op, cx.name, cx.x, vec![], activation)
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

/// Cast; a non-saturating cast to FP8 sets `saturate = 0`.
pub(crate) fn cast(b: &mut Builder, cx: NodeArgs, to: DType, saturate: bool) -> String {
    let mut attrs = vec![attr("to", Attr::Int(onnx_dtype(to) as i64))];
    if !saturate && is_fp8(to) {
        attrs.push(attr("saturate", Attr::Int(0)));
    }
    b.simple("Cast", cx.name, cx.x, attrs, None)
}
