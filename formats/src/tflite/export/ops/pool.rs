//! MAX_POOL_2D and AVERAGE_POOL_2D (undilated 2-D pools; paddings other than SAME and
//! VALID, and averages that count the padding, through an explicit PAD or PADV2).

use super::conv::{explicit_pad, i32_of, out_len, padding_of, Fill};
use crate::tflite::export::layout::{permute, TO_NHWC};
use crate::tflite::export::lower::Lowerer;
use crate::tflite::export::model::Options;
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{Layout, NodeIndex, Op, PoolKind, PoolWindow2d, ValueRef};
use nnopt_compiler::Result;

/// A 2-D pool as MAX_POOL_2D or AVERAGE_POOL_2D.
pub fn pool(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::Pool { pool, activation } = l.g.node(n).op.clone() else {
        unreachable!("dispatched on Pool")
    };
    let Some(PoolWindow2d {
        kernel: k,
        strides: s,
        pads: p,
    }) = pool.window_2d()
    else {
        return Err(l.err("only undilated 2-D pools have a TFLite operator"));
    };
    let x_in = l.g.node_inputs(n)[0];
    let nchw = pool.layout == Layout::Nchw;
    let x = if nchw {
        l.nhwc(x_in)?
    } else {
        l.logical(x_in)?
    };
    let mut xs = l.m.ty(x).shape.clone();
    let counted = pool.kind == PoolKind::Avg && pool.count_include_pad;
    // TFLite pools pad SAME or VALID and never count the padding; other paddings, and
    // averages that count it, become an explicit pad (zeros, or for a max pool the lowest
    // value) and a VALID pool.
    let same_or_valid = padding_of([xs[1], xs[2]], k, s, p);
    let fill = if p == [0; 4] {
        None
    } else if counted {
        Some(Fill::Zero)
    } else if same_or_valid.is_some() {
        None
    } else if pool.kind == PoolKind::Max {
        Some(Fill::Lowest)
    } else {
        return Err(l.err(format!(
            "an average pool padded {p:?} (neither SAME nor VALID) that does not count the \
             padding has no TFLite operator"
        )));
    };
    let (x, padding) = match fill {
        Some(fill) => {
            let padded = explicit_pad(l, x, p, fill)?;
            xs = l.m.ty(padded).shape.clone();
            (padded, fb::Padding::VALID)
        }
        None => (x, same_or_valid.unwrap_or(fb::Padding::VALID)),
    };
    let out_shape = l.ty(ValueRef::first(n)).shape.clone();
    let out_hw = if nchw {
        permute(&out_shape, &TO_NHWC)
    } else {
        out_shape
    };
    let same = padding == fb::Padding::SAME;
    if pool.ceil_mode
        && (out_hw[1] != out_len(xs[1], k[0], s[0], same)
            || out_hw[2] != out_len(xs[2], k[1], s[1], same))
    {
        return Err(l.err("ceil_mode pooling with a partial last window has no TFLite operator"));
    }
    let code = match pool.kind {
        PoolKind::Max => fb::BuiltinOperator::MAX_POOL_2D,
        PoolKind::Avg => fb::BuiltinOperator::AVERAGE_POOL_2D,
    };
    let args = [
        i32_of(s[0], "stride", l)?,
        i32_of(s[1], "stride", l)?,
        i32_of(k[0], "kernel", l)?,
        i32_of(k[1], "kernel", l)?,
    ];
    l.emit_fused(n, code, vec![x], nchw, activation, |f| {
        Options::Pool2D(fb::Pool2DOptionsArgs {
            padding,
            stride_h: args[0],
            stride_w: args[1],
            filter_height: args[2],
            filter_width: args[3],
            fused_activation_function: f,
        })
    })
}
