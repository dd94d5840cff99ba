//! ARG_MAX / ARG_MIN: the index of the extreme along a constant axis, written as the
//! output tensor's int32 or int64 (TFLite drops the axis: there is no keep_dims).

use super::super::builder::Builder;
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{ArgKind, Op};
use nnopt_compiler::Result;

pub fn arg_reduce(b: &mut Builder<'_, '_>, code: fb::BuiltinOperator, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let axis = super::const_axis(b, io, xi)?;
    let kind = if code == fb::BuiltinOperator::ARG_MAX {
        ArgKind::Max
    } else {
        ArgKind::Min
    };
    let index_dtype = b.ty(out)?.dtype;
    let x = b.value(xi)?;
    b.emit(
        Op::ArgReduce {
            kind,
            axis,
            keep_dims: false,
            select_last_index: false,
            index_dtype,
        },
        &[x],
        out,
    )?;
    Ok(())
}
