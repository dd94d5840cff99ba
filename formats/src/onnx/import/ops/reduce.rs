//! ReduceMean/Max/Min/Sum and the global pools.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::opt_const_ints;
use nnopt_compiler::ir::{Op, ReduceKind, ValueRef};
use nnopt_compiler::Result;

/// GlobalAveragePool / GlobalMaxPool as a reduction over the spatial axes.
pub(super) fn global_pool(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let r = imp.shape(x).len();
    if r < 3 {
        return Err(cx.err("input must have rank >= 3"));
    }
    let kind = if cx.op_type() == "GlobalMaxPool" {
        ReduceKind::Max
    } else {
        ReduceKind::Mean
    };
    imp.emit(
        Op::Reduce {
            kind,
            axes: (2..r).collect(),
            keep_dims: true,
        },
        &[x],
        cx.out(0),
    )
}

/// ReduceMean / ReduceMax / ReduceMin / ReduceSum, with axes as an attribute or (from
/// opset 18, 13 for ReduceSum) an input, and `noop_with_empty_axes`.
pub(super) fn reduce(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let r = imp.shape(x).len();
    let (kind, input_from) = match cx.op_type() {
        "ReduceMean" => (ReduceKind::Mean, 18),
        "ReduceMax" => (ReduceKind::Max, 18),
        "ReduceMin" => (ReduceKind::Min, 18),
        _ => (ReduceKind::Sum, 13),
    };
    let axes = if imp.opset >= input_from {
        opt_const_ints(imp, cx, 1, "axes")?
    } else {
        cx.ints("axes")?
    };
    let axes = axes.unwrap_or_default();
    let mut axes = axes
        .iter()
        .map(|&a| cx.axis(a, r))
        .collect::<Result<Vec<_>>>()?;
    if axes.is_empty() {
        if cx.int("noop_with_empty_axes", 0)? != 0 {
            return Ok(x);
        }
        axes = (0..r).collect();
    }
    axes.sort_unstable();
    axes.dedup();
    let keep_dims = cx.int("keepdims", 1)? != 0;
    imp.emit(
        Op::Reduce {
            kind,
            axes,
            keep_dims,
        },
        &[x],
        cx.out(0),
    )
}
