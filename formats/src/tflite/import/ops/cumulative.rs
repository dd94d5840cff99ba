//! CUMSUM: a running sum along a constant axis, with `exclusive` and `reverse`.

use super::super::builder::Builder;
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{CumulativeKind, Op};
use nnopt_compiler::Result;

pub fn cumsum(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
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
    let (exclusive, reverse) = op
        .builtin_options_as_cumsum_options()
        .map_or((false, false), |o| (o.exclusive(), o.reverse()));
    let x = b.value(xi)?;
    b.emit(
        Op::Cumulative {
            kind: CumulativeKind::Sum,
            axis: axis as usize,
            exclusive,
            reverse,
        },
        &[x],
        out,
    )?;
    Ok(())
}
