//! GatherElements and ScatterElements.

use super::super::attrs::NodeCtx;
use super::super::Importer;
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
