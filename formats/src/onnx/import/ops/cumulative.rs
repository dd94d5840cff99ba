//! CumSum / CumProd.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::const_input;
use nnopt_compiler::ir::{CumulativeKind, Op, ValueRef};
use nnopt_compiler::Result;

/// CumSum / CumProd: the axis is input 1 and must be a constant scalar; `exclusive` and
/// `reverse` are attributes.
pub(super) fn cumulative(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let axes = const_input(imp, cx, 1, "axis")?
        .to_i64_vec()
        .ok_or_else(|| cx.err("input 1 (axis) must hold an integer"))?;
    let [a] = axes[..] else {
        return Err(cx.err(format!("the axis must be one value, got {axes:?}")));
    };
    let axis = cx.axis(a, imp.shape(x).len())?;
    let kind = if cx.op_type() == "CumSum" {
        CumulativeKind::Sum
    } else {
        CumulativeKind::Prod
    };
    imp.emit(
        Op::Cumulative {
            kind,
            axis,
            exclusive: cx.int("exclusive", 0)? != 0,
            reverse: cx.int("reverse", 0)? != 0,
        },
        &[x],
        cx.out(0),
    )
}
