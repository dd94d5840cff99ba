//! ArgMax / ArgMin.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{ArgKind, DType, Op, ValueRef};
use nnopt_compiler::Result;

/// ArgMax / ArgMin with `axis`, `keepdims` and `select_last_index`; indices are int64.
pub(super) fn arg_reduce(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let axis = cx.axis(cx.int("axis", 0)?, imp.shape(x).len())?;
    let kind = if cx.op_type() == "ArgMax" {
        ArgKind::Max
    } else {
        ArgKind::Min
    };
    imp.emit(
        Op::ArgReduce {
            kind,
            axis,
            keep_dims: cx.int("keepdims", 1)? != 0,
            select_last_index: cx.int("select_last_index", 0)? != 0,
            index_dtype: DType::I64,
        },
        &[x],
        cx.out(0),
    )
}
