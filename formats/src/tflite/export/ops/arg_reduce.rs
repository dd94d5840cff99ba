//! ARG_MAX / ARG_MIN (TFLite drops the axis and takes the first extreme).

use crate::tflite::export::lower::Lowerer;
use crate::tflite::export::model::Options;
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{ArgKind, DType, NodeIndex, Op};
use nnopt_compiler::Result;

pub fn arg_reduce(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::ArgReduce {
        kind,
        axis,
        keep_dims,
        select_last_index,
        index_dtype,
    } = l.g.node(n).op.clone()
    else {
        return Err(l.err("not an arg_reduce"));
    };
    if keep_dims || select_last_index {
        return Err(l.err(
            "TFLite's ARG_MAX / ARG_MIN drop the axis and take the first extreme (no keep_dims \
             or select_last_index)",
        ));
    }
    let x = l.logical(l.g.node_inputs(n)[0])?;
    let a = l.const_i32("axis", &[axis as i32], &[1]);
    let out = l.define(n, 0, false);
    let output_type = match index_dtype {
        DType::I64 => fb::TensorType::INT64,
        _ => fb::TensorType::INT32,
    };
    let (code, options) = match kind {
        ArgKind::Max => (
            fb::BuiltinOperator::ARG_MAX,
            Options::ArgMax { output_type },
        ),
        ArgKind::Min => (
            fb::BuiltinOperator::ARG_MIN,
            Options::ArgMin { output_type },
        ),
    };
    l.op(code, vec![x, a], vec![out], options);
    Ok(())
}
