//! ArgReduce as ArgMax / ArgMin (int64 indices; an i32 result gets a Cast).

use super::NodeArgs;
use crate::onnx::export::builder::Builder;
use crate::onnx::export::proto::{attr, onnx_dtype, Attr};
use nnopt_compiler::ir::{ArgKind, DType};

pub(crate) fn arg_reduce(
    b: &mut Builder,
    cx: NodeArgs,
    kind: ArgKind,
    axis: usize,
    keep_dims: bool,
    select_last_index: bool,
    index_dtype: DType,
) -> String {
    let op = match kind {
        ArgKind::Max => "ArgMax",
        ArgKind::Min => "ArgMin",
    };
    let attrs = vec![
        attr("axis", Attr::Int(axis as i64)),
        attr("keepdims", Attr::Int(keep_dims as i64)),
        attr("select_last_index", Attr::Int(select_last_index as i64)),
    ];
    let idx = b.simple(op, cx.name, cx.x, attrs, None);
    if index_dtype == DType::I64 {
        return idx;
    }
    let to = attr("to", Attr::Int(onnx_dtype(index_dtype) as i64));
    b.simple(
        "Cast",
        &format!("{}_cast", cx.name),
        vec![idx],
        vec![to],
        None,
    )
}
