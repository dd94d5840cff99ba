//! The reductions and the global pools. ReduceL1, ReduceL2, ReduceSumSquare,
//! ReduceLogSum and ReduceLogSumExp are a sum between elementwise steps.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::opt_const_ints;
use nnopt_compiler::ir::{BinaryKind, Op, ReduceKind, UnaryFunc, ValueRef};
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

/// An elementwise step before or after a reduction.
#[derive(Clone, Copy)]
enum Step {
    Square,
    Func(UnaryFunc),
}

/// The reduction ops, with axes as an attribute or (from opset 18, 13 for ReduceSum) an
/// input, and `noop_with_empty_axes` (which still applies the elementwise steps).
pub(super) fn reduce(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let mut x = cx.input(0)?;
    let r = imp.shape(x).len();
    let (kind, input_from, pre, post) = match cx.op_type() {
        "ReduceMean" => (ReduceKind::Mean, 18, None, None),
        "ReduceMax" => (ReduceKind::Max, 18, None, None),
        "ReduceMin" => (ReduceKind::Min, 18, None, None),
        "ReduceSum" => (ReduceKind::Sum, 13, None, None),
        "ReduceProd" => (ReduceKind::Prod, 18, None, None),
        "ReduceL1" => (ReduceKind::Sum, 18, Some(Step::Func(UnaryFunc::Abs)), None),
        "ReduceL2" => (
            ReduceKind::Sum,
            18,
            Some(Step::Square),
            Some(UnaryFunc::Sqrt),
        ),
        "ReduceSumSquare" => (ReduceKind::Sum, 18, Some(Step::Square), None),
        "ReduceLogSum" => (ReduceKind::Sum, 18, None, Some(UnaryFunc::Log)),
        _ => (
            ReduceKind::Sum,
            18,
            Some(Step::Func(UnaryFunc::Exp)),
            Some(UnaryFunc::Log),
        ),
    };
    let out = cx.out(0);
    let stepped = |post: bool| {
        if post {
            format!("{out}_reduced")
        } else {
            out.to_string()
        }
    };
    let apply = |imp: &mut Importer, x: ValueRef, step: Step, name: &str| match step {
        Step::Square => imp.emit(
            Op::Binary {
                kind: BinaryKind::Mul,
                activation: None,
            },
            &[x, x],
            name,
        ),
        Step::Func(func) => imp.emit(Op::Unary { func }, &[x], name),
    };
    if let Some(step) = pre {
        x = apply(imp, x, step, &format!("{out}_pre"))?;
    }
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
    let finish = |imp: &mut Importer, y: ValueRef| match post {
        Some(func) => imp.emit(Op::Unary { func }, &[y], out),
        None => Ok(y),
    };
    if axes.is_empty() {
        if cx.int("noop_with_empty_axes", 0)? != 0 {
            return finish(imp, x);
        }
        axes = (0..r).collect();
    }
    axes.sort_unstable();
    axes.dedup();
    let keep_dims = cx.int("keepdims", 1)? != 0;
    let y = imp.emit(
        Op::Reduce {
            kind,
            axes,
            keep_dims,
        },
        &[x],
        &stepped(post.is_some()),
    )?;
    finish(imp, y)
}
