//! ARG_MAX / ARG_MIN: the index of the extreme along a constant axis, written as the
//! output tensor's int32 or int64 (TFLite drops the axis: there is no keep_dims).

use super::super::builder::Builder;
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{ArgKind, Op};
use nnopt_compiler::Result;

pub fn arg_reduce(b: &mut Builder<'_, '_>, code: fb::BuiltinOperator, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let rank = b.ty(xi)?.shape.len() as i64;
    let axes = b.const_ints(io.input(b, 1)?, "axis")?;
    let [a] = axes[..] else {
        return Err(b.err(format!("the axis must be one value, got {axes:?}")));
    };
    let axis = if a < 0 { a + rank } else { a };
    if !(0..rank).contains(&axis) {
        return Err(b.err(format!("axis {a} out of range for rank {rank}")));
    }
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
            axis: axis as usize,
            keep_dims: false,
            select_last_index: false,
            index_dtype,
        },
        &[x],
        out,
    )?;
    Ok(())
}
