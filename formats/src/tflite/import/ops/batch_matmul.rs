//! BATCH_MATMUL: a batched matrix product with numpy-broadcast batch axes; `adj_x` and
//! `adj_y` become transposes of the last two axes (folded when the operand is constant).

use super::super::builder::Builder;
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{DType, Op, TensorType, ValueRef};
use nnopt_compiler::Result;

/// BATCH_MATMUL as `MatMul(adj_x ? x^T : x, adj_y ? y^T : y)`.
pub fn batch_matmul(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = op
        .builtin_options_as_batch_mat_mul_options()
        .ok_or_else(|| b.err("missing BatchMatMulOptions"))?;
    let (xi, yi, out) = (io.input(b, 0)?, io.input(b, 1)?, io.output(b, 0)?);
    let (xt, yt) = (b.ty(xi)?, b.ty(yi)?);
    if xt.dtype != yt.dtype || !matches!(xt.dtype, DType::F32 | DType::I8) {
        return Err(b.err(format!(
            "BATCH_MATMUL takes two float32 or two int8 operands, got {} and {}",
            xt.dtype, yt.dtype
        )));
    }
    if xt.shape.len() < 2 || yt.shape.len() < 2 {
        return Err(b.err(format!(
            "BATCH_MATMUL operands need rank 2 or more, got {:?} and {:?}",
            xt.shape, yt.shape
        )));
    }
    let x = b.value(xi)?;
    let x = swap_last_two(b, x, xt, o.adj_x())?;
    let y = b.value(yi)?;
    let y = swap_last_two(b, y, yt, o.adj_y())?;
    b.emit(Op::MatMul, &[x, y], out)?;
    Ok(())
}

/// `v` with its last two axes swapped when `adjoint` is set.
fn swap_last_two(
    b: &mut Builder<'_, '_>,
    v: ValueRef,
    ty: TensorType,
    adjoint: bool,
) -> Result<ValueRef> {
    if !adjoint {
        return Ok(v);
    }
    let r = ty.shape.len();
    let mut perm: Vec<usize> = (0..r).collect();
    perm.swap(r - 2, r - 1);
    let mut shape = ty.shape.clone();
    shape.swap(r - 2, r - 1);
    b.add(Op::Transpose { perm }, &[v], TensorType { shape, ..ty })
}
