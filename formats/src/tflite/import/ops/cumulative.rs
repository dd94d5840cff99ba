//! CUMSUM: a running sum along a constant axis, with `exclusive` and `reverse`.

use super::super::builder::Builder;
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{CumulativeKind, Op};
use nnopt_compiler::Result;

pub fn cumsum(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let axis = super::const_axis(b, io, xi)?;
    let (exclusive, reverse) = op
        .builtin_options_as_cumsum_options()
        .map_or((false, false), |o| (o.exclusive(), o.reverse()));
    let x = b.value(xi)?;
    b.emit(
        Op::Cumulative {
            kind: CumulativeKind::Sum,
            axis,
            exclusive,
            reverse,
        },
        &[x],
        out,
    )?;
    Ok(())
}
