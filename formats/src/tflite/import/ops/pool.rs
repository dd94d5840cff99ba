//! AVERAGE_POOL_2D, MAX_POOL_2D and the reductions (MEAN, SUM, REDUCE_MAX, REDUCE_MIN).

use super::super::builder::{fused, padding, Builder};
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::{Layout, Op, PoolAttrs, PoolKind, ReduceKind};
use nnopt_compiler::Result;

pub fn pool2d(
    b: &mut Builder<'_, '_>,
    code: fb::BuiltinOperator,
    op: &fb::Operator<'_>,
    io: &Io,
) -> Result<()> {
    let o = op
        .builtin_options_as_pool_2_doptions()
        .ok_or_else(|| b.err("missing Pool2DOptions"))?;
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let xs = b.ty(xi)?.shape;
    if xs.len() != 4 {
        return Err(b.err(format!("pool input must be 4-D, got {xs:?}")));
    }
    let pos = |v: i32, what: &str| {
        if v > 0 {
            Ok(v as usize)
        } else {
            Err(b.err(format!("{what} must be positive, got {v}")))
        }
    };
    let kernel = [
        pos(o.filter_height(), "filter height")?,
        pos(o.filter_width(), "filter width")?,
    ];
    let strides = [pos(o.stride_h(), "stride")?, pos(o.stride_w(), "stride")?];
    let (pt, pb) = padding(o.padding(), xs[1], kernel[0], strides[0], 1)?;
    let (pl, pr) = padding(o.padding(), xs[2], kernel[1], strides[1], 1)?;
    let kind = if code == fb::BuiltinOperator::MAX_POOL_2D {
        PoolKind::Max
    } else {
        PoolKind::Avg
    };
    let pool = Op::Pool {
        pool: PoolAttrs {
            kind,
            layout: Layout::Nhwc,
            kernel: kernel.to_vec(),
            strides: strides.to_vec(),
            dilations: vec![],
            pads: vec![pt, pl, pb, pr],
            ceil_mode: false,
            count_include_pad: false,
        },
        activation: fused(o.fused_activation_function())?,
    };
    let x = b.value(xi)?;
    b.emit(pool, &[x], out)?;
    Ok(())
}

pub fn reduce(
    b: &mut Builder<'_, '_>,
    code: fb::BuiltinOperator,
    op: &fb::Operator<'_>,
    io: &Io,
) -> Result<()> {
    use fb::BuiltinOperator as B;
    let kind = match code {
        B::MEAN => ReduceKind::Mean,
        B::SUM => ReduceKind::Sum,
        B::REDUCE_MAX => ReduceKind::Max,
        _ => ReduceKind::Min,
    };
    let keep_dims = op
        .builtin_options_as_reducer_options()
        .is_some_and(|o| o.keep_dims());
    let (xi, out) = (io.input(b, 0)?, io.output(b, 0)?);
    let rank = b.ty(xi)?.shape.len() as i64;
    let mut axes = Vec::new();
    for a in b.const_ints(io.input(b, 1)?, "reduction axes")? {
        let a = if a < 0 { a + rank } else { a };
        if !(0..rank).contains(&a) {
            return Err(b.err(format!("reduction axis {a} out of range for rank {rank}")));
        }
        if !axes.contains(&(a as usize)) {
            axes.push(a as usize);
        }
    }
    axes.sort_unstable();
    let x = b.value(xi)?;
    b.emit(
        Op::Reduce {
            kind,
            axes,
            keep_dims,
        },
        &[x],
        out,
    )?;
    Ok(())
}
