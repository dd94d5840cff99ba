//! ReduceSum, ReduceMean, ReduceMax, ReduceMin and ReduceProd.

use super::NodeArgs;
use crate::onnx::export::builder::Builder;
use crate::onnx::export::proto::{attr, Attr};
use nnopt_compiler::ir::ReduceKind;

/// A reduction; its axes are an input for ReduceSum (opset 13) and for every reduction
/// from opset 18, an attribute before.
pub(crate) fn reduce(
    b: &mut Builder,
    cx: NodeArgs,
    kind: ReduceKind,
    axes: &[usize],
    keep_dims: bool,
) -> String {
    let NodeArgs { name, x, .. } = cx;
    let keep = attr("keepdims", Attr::Int(keep_dims as i64));
    let axes_i: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
    match kind {
        ReduceKind::Sum => {
            let a = b.i64s("axes", &axes_i);
            b.simple("ReduceSum", name, vec![x[0].clone(), a], vec![keep], None)
        }
        k => {
            let op = match k {
                ReduceKind::Mean => "ReduceMean",
                ReduceKind::Max => "ReduceMax",
                ReduceKind::Prod => "ReduceProd",
                _ => "ReduceMin",
            };
            if b.opset >= 18 {
                // Opset 18 moved the axes of every reduction into an input.
                let a = b.i64s("axes", &axes_i);
                b.simple(op, name, vec![x[0].clone(), a], vec![keep], None)
            } else {
                let axes = attr("axes", Attr::Ints(axes_i));
                b.simple(op, name, x, vec![keep, axes], None)
            }
        }
    }
}
