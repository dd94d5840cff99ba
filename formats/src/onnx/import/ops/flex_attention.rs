//! FlexAttention (`ai.onnx.preview`) as matrix products and a softmax: grouped-query heads
//! repeated, Q and K each scaled by `sqrt(scale)`, the scores taken to the softmax
//! precision (f32 for half and bfloat16 inputs), the `score_mod` and `prob_mod` graphs
//! inlined on the scores and the probabilities, and the product with V rounded to V's
//! type.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::attention::repeat_heads;
use super::dtype_attr;
use super::steps::Steps;
use nnopt_compiler::ir::{BinaryKind, DType, Op, ValueRef};
use nnopt_compiler::Result;

/// FlexAttention: (Q `[B, Hq, L, E]`, K `[B, Hkv, S, E]`, V `[B, Hkv, S, Ev]`) -> Y.
pub(super) fn flex_attention(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let dtype = imp.ty(q).dtype;
    let (qs, ks, vs) = (imp.shape(q), imp.shape(k), imp.shape(v));
    let fits = dtype.is_float()
        && [imp.ty(k).dtype, imp.ty(v).dtype] == [dtype, dtype]
        && qs.len() == 4
        && ks.len() == 4
        && vs.len() == 4
        && ks[..2] == vs[..2]
        && ks[2] == vs[2]
        && ks[3] == qs[3]
        && ks[0] == qs[0]
        && ks[1] > 0
        && qs[1].is_multiple_of(ks[1]);
    if !fits {
        return Err(cx.err(format!(
            "Q {}, K {} and V {} do not fit [B, Hq, L, E], [B, Hkv, S, E], [B, Hkv, S, Ev] \
             floats with Hq a multiple of Hkv",
            imp.ty(q),
            imp.ty(k),
            imp.ty(v)
        )));
    }
    let precision = match cx.has("softmax_precision") {
        true => dtype_attr(cx, cx.int("softmax_precision", 0)?)?,
        false if matches!(dtype, DType::F16 | DType::Bf16) => DType::F32,
        false => dtype,
    };
    if !precision.is_float() {
        return Err(cx.err(format!("softmax_precision {precision} is not a float type")));
    }
    let scale = match cx.has("scale") {
        true => cx.float("scale", 1.0)?,
        false => (1.0 / (qs[3] as f64).sqrt()) as f32,
    };
    let mut s = Steps::new(imp, format!("{}_flex", cx.out(0)));
    let (mut k, mut v) = (k, v);
    if qs[1] != ks[1] {
        k = repeat_heads(&mut s, k, qs[1] / ks[1])?;
        v = repeat_heads(&mut s, v, qs[1] / ks[1])?;
    }
    let root = s.constant(dtype, &[], &[scale.sqrt() as f64])?;
    let qr = s.binary(BinaryKind::Mul, q, root)?;
    let kr = s.binary(BinaryKind::Mul, k, root)?;
    let perm = vec![0, 1, 3, 2];
    let kt = s.emit(Op::Transpose { perm }, &[kr])?;
    let scores = s.emit(Op::MatMul, &[qr, kt])?;
    let mut scores = s.cast(scores, precision)?;
    let modify = |s: &mut Steps, name: &str, x: ValueRef| -> Result<ValueRef> {
        let Some(g) = cx.graph(name)? else {
            return Ok(x);
        };
        let shape = s.imp.shape(x);
        let out = match s.imp.inline_graph(g, &[x])?[..] {
            [out] => out,
            _ => return Err(cx.err(format!("{name} must have one output"))),
        };
        if s.imp.shape(out) != shape {
            return Err(cx.err(format!(
                "{name} must keep the shape {shape:?}, gives {}",
                s.imp.ty(out)
            )));
        }
        s.cast(out, precision)
    };
    scores = modify(&mut s, "score_mod", scores)?;
    let probs = s.emit(Op::Softmax { axis: 3, beta: 1.0 }, &[scores])?;
    let probs = modify(&mut s, "prob_mod", probs)?;
    let v = s.cast(v, precision)?;
    let y = s.emit(Op::MatMul, &[probs, v])?;
    let y = s.cast(y, dtype)?;
    s.imp.emit(Op::Identity, &[y], cx.out(0))
}
