//! GATHER_ND: slices of the params picked by index tuples (no batch axes).

use super::super::builder::Builder;
use super::Io;
use nnopt_compiler::ir::Op;
use nnopt_compiler::Result;

pub fn gather_nd(b: &mut Builder<'_, '_>, io: &Io) -> Result<()> {
    let (di, ii, out) = (io.input(b, 0)?, io.input(b, 1)?, io.output(b, 0)?);
    let (d, i) = (b.value(di)?, b.value(ii)?);
    b.emit(Op::GatherNd { batch_dims: 0 }, &[d, i], out)?;
    Ok(())
}
