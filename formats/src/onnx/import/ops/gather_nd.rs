//! GatherND.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{Op, ValueRef};
use nnopt_compiler::Result;

/// GatherND with its `batch_dims` attribute.
pub(super) fn gather_nd(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (d, i) = (cx.input(0)?, cx.input(1)?);
    let batch_dims = cx.int("batch_dims", 0)?;
    let batch_dims = usize::try_from(batch_dims)
        .map_err(|_| cx.err(format!("batch_dims {batch_dims} must not be negative")))?;
    imp.emit(Op::GatherNd { batch_dims }, &[d, i], cx.out(0))
}
