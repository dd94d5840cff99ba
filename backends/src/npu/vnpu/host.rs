//! The host-CPU commands: TFLite Micro's integer SVDF step and LiteRT's float-table
//! softmax, with the interpreter's kernels (the firmware runtime's, shared).

use super::arena::Arena;
use crate::npu::program::{Svdf, TableSoftmax, TensorDesc};
use nnopt_compiler::interp::{softmax_with_table, svdf_integer};
use nnopt_compiler::{Error, Result};

/// Runs an SVDF step from the command's initial state on `x` into `o`.
pub fn svdf(c: &Svdf, x: &TensorDesc, o: &TensorDesc, arena: &mut Arena) -> Result<()> {
    let p = c
        .params(x, o)
        .ok_or_else(|| Error::at_node(&c.name, "svdf constants do not fit its tensors"))?;
    let widen = |v: &[i16]| v.iter().map(|&c| i32::from(c)).collect::<Vec<_>>();
    let wf: Vec<i32> = c.weights_feature.iter().map(|&w| i32::from(w)).collect();
    let (y, _) = svdf_integer(
        &p,
        &arena.ints(x)?,
        &wf,
        &widen(&c.weights_time),
        &widen(&c.state),
        &c.bias,
    )
    .map_err(|e| e.in_node(&c.name))?;
    arena.set_ints(o, &y).map_err(|e| e.in_node(&c.name))
}

/// Runs a float-table softmax of `x` into `o`.
pub fn table_softmax(
    c: &TableSoftmax,
    x: &TensorDesc,
    o: &TensorDesc,
    arena: &mut Arena,
) -> Result<()> {
    let table: &[f32; 256] = c
        .table
        .as_slice()
        .try_into()
        .map_err(|_| Error::at_node(&c.name, "the softmax table does not have 256 entries"))?;
    let eight_bit = x.dtype.size_bytes() == 1 && x.dtype.int_range().is_some();
    if !eight_bit || o.dtype != x.dtype || o.shape != x.shape || c.axis >= x.shape.len() {
        return Err(Error::at_node(
            &c.name,
            "table softmax output does not match its 8-bit input",
        ));
    }
    let s = &x.shape;
    let dims = [
        s[..c.axis].iter().product(),
        s[c.axis],
        s[c.axis + 1..].iter().product(),
    ];
    let (lo, hi) = x.dtype.int_range().expect("checked");
    let output = (c.output_scale, c.output_zero_point);
    let y = softmax_with_table(table, &arena.ints(x)?, dims, output, (lo as i32, hi as i32));
    arena.set_ints(o, &y).map_err(|e| e.in_node(&c.name))
}
