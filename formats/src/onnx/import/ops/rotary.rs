//! RotaryEmbedding (opset 23) as slices, products and concatenations: the cos and sin
//! caches are gathered at the position ids (or given per batch and position), the first
//! `rotary_embedding_dim` channels of each head are rotated as pairs (halves, or adjacent
//! channels when `interleaved`), the rest pass through.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use nnopt_compiler::ir::{BinaryKind, Op, ValueRef};
use nnopt_compiler::Result;

/// RotaryEmbedding: (input, cos_cache, sin_cache, [position_ids]) -> output.
pub(super) fn rotary_embedding(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, cos, sin) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let dtype = imp.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("rotary embedding of {dtype} data")));
    }
    let shape = imp.shape(x);
    let mut s = Steps::new(imp, format!("{}_rope", cx.out(0)));
    // The input as [batch, heads, seq, head] (4-D) or [batch, seq, heads, head] (3-D).
    let (x, batch, seq, head_axis) = match shape[..] {
        [b, _, sq, _] => (x, b, sq, 1),
        [b, sq, hidden] => {
            let heads = usize::try_from(cx.int("num_heads", 0)?)
                .ok()
                .filter(|&h| h > 0 && hidden.is_multiple_of(h))
                .ok_or_else(|| cx.err("3-D input needs num_heads dividing its hidden size"))?;
            (s.reshape(x, vec![b, sq, heads, hidden / heads])?, b, sq, 2)
        }
        _ => return Err(cx.err(format!("input must be 3-D or 4-D, got {shape:?}"))),
    };
    let head = *s.imp.shape(x).last().expect("rank 4");
    let dim = match cx.int("rotary_embedding_dim", 0)? {
        0 => head,
        d => usize::try_from(d)
            .ok()
            .filter(|&d| d <= head && d.is_multiple_of(2))
            .ok_or_else(|| cx.err(format!("rotary_embedding_dim {d} for heads of {head}")))?,
    };
    let half = dim / 2;
    // The caches as [batch, seq, half], then with a unit head axis.
    let table = |s: &mut Steps, cache: ValueRef, what: &str| -> Result<ValueRef> {
        let c = match cx.opt_input(3) {
            Some(ids) => s.emit(Op::Gather { axis: 0 }, &[cache, ids])?,
            None => cache,
        };
        if s.imp.ty(c).dtype != dtype || s.imp.shape(c) != [batch, seq, half] {
            return Err(cx.err(format!(
                "{what} must give [{batch}, {seq}, {half}] {dtype} values, got {}",
                s.imp.ty(c)
            )));
        }
        let mut unit = vec![batch, seq, half];
        unit.insert(head_axis, 1);
        s.reshape(c, unit)
    };
    let cos = table(&mut s, cos, "cos_cache")?;
    let sin = table(&mut s, sin, "sin_cache")?;
    let interleaved = cx.int("interleaved", 0)? != 0;
    let (x1, x2) = match interleaved {
        true => (s.slice(x, 3, 0, dim, 2)?, s.slice(x, 3, 1, dim, 2)?),
        false => (s.slice(x, 3, 0, half, 1)?, s.slice(x, 3, half, dim, 1)?),
    };
    let (c1, s2) = (
        s.binary(BinaryKind::Mul, cos, x1)?,
        s.binary(BinaryKind::Mul, sin, x2)?,
    );
    let real = s.binary(BinaryKind::Sub, c1, s2)?;
    let (s1, c2) = (
        s.binary(BinaryKind::Mul, sin, x1)?,
        s.binary(BinaryKind::Mul, cos, x2)?,
    );
    let imag = s.binary(BinaryKind::Add, s1, c2)?;
    let mut rotated = match interleaved {
        true => {
            let d = s.imp.shape(real);
            let pair = [d.clone(), vec![1]].concat();
            let (re, im) = (s.reshape(real, pair.clone())?, s.reshape(imag, pair)?);
            let both = s.emit(Op::Concat { axis: 4 }, &[re, im])?;
            s.reshape(both, [&d[..3], &[dim]].concat())?
        }
        false => s.emit(Op::Concat { axis: 3 }, &[real, imag])?,
    };
    if dim < head {
        let rest = s.slice(x, 3, dim, head, 1)?;
        rotated = s.emit(Op::Concat { axis: 3 }, &[rotated, rest])?;
    }
    s.imp.emit(Op::Reshape { shape }, &[rotated], cx.out(0))
}
