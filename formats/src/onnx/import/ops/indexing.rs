//! GatherElements, ScatterElements, ScatterND and TopK.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::opt_const_ints;
use nnopt_compiler::ir::{Op, ScatterReduction, ValueRef};
use nnopt_compiler::Result;

/// GatherElements.
pub(super) fn gather_elements(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (data, indices) = (cx.input(0)?, cx.input(1)?);
    let axis = cx.axis(cx.int("axis", 0)?, imp.shape(data).len())?;
    imp.emit(Op::GatherElements { axis }, &[data, indices], cx.out(0))
}

/// ScatterElements (and the deprecated Scatter) with its reduction.
pub(super) fn scatter_elements(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins = [cx.input(0)?, cx.input(1)?, cx.input(2)?];
    let axis = cx.axis(cx.int("axis", 0)?, imp.shape(ins[0]).len())?;
    let reduction = scatter_reduction(cx)?;
    imp.emit(Op::ScatterElements { axis, reduction }, &ins, cx.out(0))
}

/// ScatterND with its reduction.
pub(super) fn scatter_nd(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins = [cx.input(0)?, cx.input(1)?, cx.input(2)?];
    let reduction = scatter_reduction(cx)?;
    imp.emit(Op::ScatterNd { reduction }, &ins, cx.out(0))
}

/// TopK with `k` from a constant input (opset 10 on) or the attribute.
pub(super) fn top_k(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let x = cx.input(0)?;
    let axis = cx.axis(cx.int("axis", -1)?, imp.shape(x).len())?;
    let k = match opt_const_ints(imp, cx, 1, "k")? {
        Some(k) if k.len() == 1 => k[0],
        Some(k) => return Err(cx.err(format!("k must hold one value, got {k:?}"))),
        None => cx.int("k", -1)?,
    };
    let k = cx.usizes("k", &[k])?[0];
    let op = Op::TopK {
        axis,
        k,
        largest: cx.int("largest", 1)? != 0,
    };
    let values = match cx.out(0) {
        "" => format!("{}_values", cx.out(1)),
        v => v.to_string(),
    };
    let indices = match cx.out(1) {
        "" => format!("{values}_indices"),
        i => i.to_string(),
    };
    imp.emit_q(op, &[x], &[&values, &indices], None)
}

/// The `reduction` attribute of the scatter ops.
pub(super) fn scatter_reduction(cx: &NodeCtx) -> Result<ScatterReduction> {
    Ok(match cx.string("reduction", "none")?.as_str() {
        "none" => ScatterReduction::None,
        "add" => ScatterReduction::Add,
        "mul" => ScatterReduction::Mul,
        "max" => ScatterReduction::Max,
        "min" => ScatterReduction::Min,
        other => return Err(cx.err(format!("reduction '{other}' is not supported"))),
    })
}
