//! Attention (opset 23+) as matrix products, a softmax and masks: 3-D inputs split into
//! heads, the key/value cache concatenated, grouped-query heads repeated, the causal and
//! sliding-window masks built as constants (shapes are static) or, with an external cache
//! (`nonpad_kv_seqlen`), compared at run time against each batch's valid key count, the
//! attention mask padded and made additive, and rows with no attendable key zeroed.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use nnopt_compiler::ir::{
    Activation, BinaryKind, CompareKind, DType, Op, PadMode, ReduceKind, UnaryFunc, ValueRef,
};
use nnopt_compiler::Result;

/// `[B, S, H * d]` to `[B, H, S, d]`.
fn split_heads(s: &mut Steps, x: ValueRef, heads: usize) -> Result<ValueRef> {
    let d = s.imp.shape(x);
    if heads == 0 || !d[2].is_multiple_of(heads) {
        return Err(nnopt_compiler::Error::new(format!(
            "hidden size {} is not a multiple of {heads} heads",
            d[2]
        )));
    }
    let x = s.reshape(x, vec![d[0], d[1], heads, d[2] / heads])?;
    s.emit(
        Op::Transpose {
            perm: vec![0, 2, 1, 3],
        },
        &[x],
    )
}
/// Attention: outputs Y, present_key, present_value and qk_matmul_output.
pub(super) fn attention(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let dtype = imp.ty(q).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("attention on {dtype} data")));
    }
    let rank = imp.shape(q).len();
    let mut s = Steps::new(imp, format!("{}_attn", cx.out(0)));
    let (mut q, mut k, mut v) = (q, k, v);
    if rank == 3 {
        let heads = |name, what| -> Result<usize> {
            usize::try_from(cx.int(name, 0)?)
                .ok()
                .filter(|&h| h > 0)
                .ok_or_else(|| cx.err(format!("3-D inputs need {what}")))
        };
        q = split_heads(&mut s, q, heads("q_num_heads", "q_num_heads")?)?;
        let kv = heads("kv_num_heads", "kv_num_heads")?;
        k = split_heads(&mut s, k, kv)?;
        v = split_heads(&mut s, v, kv)?;
    } else if rank != 4 {
        return Err(cx.err(format!("inputs must be 3-D or 4-D, got rank {rank}")));
    }
    let past = match (cx.opt_input(4), cx.opt_input(5)) {
        (Some(pk), Some(pv)) => {
            let len = s.imp.shape(pk)[2];
            k = s.emit(Op::Concat { axis: 2 }, &[pk, k])?;
            v = s.emit(Op::Concat { axis: 2 }, &[pv, v])?;
            len
        }
        (None, None) => 0,
        _ => return Err(cx.err("past_key and past_value must be given together")),
    };
    let (qs, ks) = (s.imp.shape(q), s.imp.shape(k));
    let (heads, seq, kv_heads, total, head_size) = (qs[1], qs[2], ks[1], ks[2], qs[3]);
    let (present_k, present_v) = (k, v);

    let nonpad = match cx.opt_input(6) {
        Some(_) if past > 0 => {
            return Err(cx.err("nonpad_kv_seqlen cannot be combined with past_key"))
        }
        Some(n) if s.imp.shape(n) != [qs[0]] || s.imp.ty(n).dtype.is_float() => {
            return Err(cx.err(format!(
                "nonpad_kv_seqlen must be {} integers, one per batch",
                qs[0]
            )))
        }
        n => n,
    };
    let bias = mask_bias(&mut s, cx, dtype, seq, total, past)?;
    let bias = match nonpad {
        Some(n) => Some(external_cache_bias(&mut s, cx, dtype, n, seq, total, bias)?),
        None => bias,
    };
    if heads != kv_heads {
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(cx.err(format!("{heads} query heads for {kv_heads} key heads")));
        }
        k = repeat_heads(&mut s, k, heads / kv_heads)?;
        v = repeat_heads(&mut s, v, heads / kv_heads)?;
    }
    let scale = match cx.has("scale") {
        true => cx.float("scale", 1.0)? as f64,
        false => 1.0 / (head_size as f64).sqrt(),
    };
    let root = s.constant(dtype, &[], &[scale.sqrt()])?;
    let qs = s.binary(BinaryKind::Mul, q, root)?;
    let kt = s.emit(
        Op::Transpose {
            perm: vec![0, 1, 3, 2],
        },
        &[k],
    )?;
    let kt = s.binary(BinaryKind::Mul, kt, root)?;
    let mut scores = s.emit(Op::MatMul, &[qs, kt])?;
    let softcap = cx.float("softcap", 0.0)?;
    if softcap > 0.0 {
        let c = s.constant(dtype, &[], &[softcap as f64])?;
        let x = s.binary(BinaryKind::Div, scores, c)?;
        let x = s.emit(
            Op::Activation {
                act: Activation::Tanh,
            },
            &[x],
        )?;
        scores = s.binary(BinaryKind::Mul, x, c)?;
    }
    let mode = cx.int("qk_matmul_output_mode", 0)?;
    let mut qk_out = scores;
    if let Some(b) = bias {
        scores = s.binary(BinaryKind::Add, scores, b)?;
    }
    if mode == 2 {
        qk_out = scores;
    }
    let last = s.imp.shape(scores).len() - 1;
    let mut probs = s.emit(
        Op::Softmax {
            axis: last,
            beta: 1.0,
        },
        &[scores],
    )?;
    if let Some(b) = bias {
        probs = zero_masked_rows(&mut s, dtype, b, probs)?;
    }
    if mode == 3 {
        qk_out = probs;
    }
    let mut y = s.emit(Op::MatMul, &[probs, v])?;
    if rank == 3 {
        y = s.emit(
            Op::Transpose {
                perm: vec![0, 2, 1, 3],
            },
            &[y],
        )?;
        let ys = s.imp.shape(y);
        y = s.reshape(y, vec![ys[0], ys[1], ys[2] * ys[3]])?;
    }
    let mut outs = vec![s.imp.emit(Op::Identity, &[y], cx.out(0))?];
    for (k, value) in [(1, present_k), (2, present_v), (3, qk_out)] {
        if cx.wants_output(k) {
            outs.push(s.imp.emit(Op::Identity, &[value], cx.out(k))?);
        } else {
            outs.push(value);
        }
    }
    Ok(outs)
}

/// The additive bias of the attention mask (padded to `total` keys, booleans as 0 or
/// -inf), and without an external cache the causal mask and the sliding window, if any,
/// in `dtype`.
fn mask_bias(
    s: &mut Steps,
    cx: &NodeCtx,
    dtype: DType,
    seq: usize,
    total: usize,
    past: usize,
) -> Result<Option<ValueRef>> {
    let mut bias = None;
    if let Some(mut m) = cx.opt_input(3) {
        let ms = s.imp.shape(m);
        let last = *ms.last().ok_or_else(|| cx.err("attn_mask is a scalar"))?;
        let boolean = s.imp.ty(m).dtype == DType::Bool;
        if last < total {
            let mut pads = vec![(0, 0); ms.len()];
            pads[ms.len() - 1] = (0, total - last);
            let value = if boolean { 0.0 } else { f32::NEG_INFINITY };
            m = s.emit(
                Op::Pad {
                    pads,
                    mode: PadMode::Constant,
                    value,
                },
                &[m],
            )?;
        }
        if boolean {
            let zero = s.constant(dtype, &[], &[0.0])?;
            let ninf = s.constant(dtype, &[], &[f64::NEG_INFINITY])?;
            m = s.emit(Op::Where, &[m, zero, ninf])?;
        }
        bias = Some(m);
    }
    let (causal, left, right) = frontier(cx)?;
    if cx.opt_input(6).is_none() && (causal || left >= 0 || right >= 0) {
        let allowed = |i: usize, j: usize| {
            let diff = (i + past) as i64 - j as i64;
            (!causal || diff >= 0) && (left < 0 || diff <= left) && (right < 0 || -diff <= right)
        };
        let c = s.constant_fn(dtype, &[seq, total], "the causal mask", |p| {
            match allowed(p / total, p % total) {
                true => 0.0,
                false => f64::NEG_INFINITY,
            }
        })?;
        bias = Some(match bias {
            Some(b) => s.binary(BinaryKind::Add, b, c)?,
            None => c,
        });
    }
    Ok(bias)
}

/// The causal flag and the left and right window sizes (-1: unbounded).
fn frontier(cx: &NodeCtx) -> Result<(bool, i64, i64)> {
    let (left, right) = (
        cx.int("left_window_size", -1)?,
        cx.int("right_window_size", -1)?,
    );
    if left < -1 || right < -1 {
        return Err(cx.err("window sizes must be -1 or non-negative"));
    }
    Ok((cx.int("is_causal", 0)? != 0, left, right))
}

/// `bias` (the attention mask's, if any) plus the masks of an external cache, where batch
/// `b` holds `n[b]` valid keys: keys from `n[b]` on are masked, and the causal frontier
/// and sliding window put the last query at key `n[b] - 1` (query `i` sits at key
/// `i + n[b] - seq`). Built at run time from `n`: `[batch, 1, seq | 1, total]` or wider.
fn external_cache_bias(
    s: &mut Steps,
    cx: &NodeCtx,
    dtype: DType,
    n: ValueRef,
    seq: usize,
    total: usize,
    bias: Option<ValueRef>,
) -> Result<ValueRef> {
    let batch = s.imp.shape(n)[0];
    let n = s.cast(n, DType::I64)?;
    let n = s.reshape(n, vec![batch, 1, 1])?;
    // Key j is valid while j < n[b].
    let keys = s.constant_fn(DType::I64, &[1, total], "the key positions", |j| j as f64)?;
    let mut allowed = s.emit(
        Op::Compare {
            kind: CompareKind::Less,
        },
        &[keys, n],
    )?;
    let (causal, left, right) = frontier(cx)?;
    // Causal: j <= i + n - seq; left window: i + n - seq - j <= left; right window:
    // j - (i + n - seq) <= right.
    let checks = [
        (causal, 0, CompareKind::GreaterOrEqual),
        (left >= 0, left, CompareKind::LessOrEqual),
        (right >= 0, -right, CompareKind::GreaterOrEqual),
    ];
    let mut rows = 1;
    for (_, shift, kind) in checks.into_iter().filter(|c| c.0) {
        let c = s.constant_fn(DType::I64, &[seq, total], "the causal mask", |p| {
            ((p % total) as i64 - (p / total) as i64 + seq as i64 + shift) as f64
        })?;
        let ok = s.emit(Op::Compare { kind }, &[n, c])?;
        allowed = s.binary(BinaryKind::BitAnd, allowed, ok)?;
        rows = seq;
    }
    let allowed = s.reshape(allowed, vec![batch, 1, rows, total])?;
    let zero = s.constant(dtype, &[], &[0.0])?;
    let ninf = s.constant(dtype, &[], &[f64::NEG_INFINITY])?;
    let cache = s.emit(Op::Where, &[allowed, zero, ninf])?;
    match bias {
        Some(b) => s.binary(BinaryKind::Add, b, cache),
        None => Ok(cache),
    }
}

/// Each key/value head repeated `r` times in place (`[h0, h0, h1, h1, ...]`).
pub(super) fn repeat_heads(s: &mut Steps, x: ValueRef, r: usize) -> Result<ValueRef> {
    let d = s.imp.shape(x);
    let x = s.reshape(x, vec![d[0], d[1], 1, d[2], d[3]])?;
    let x = s.emit(
        Op::Expand {
            shape: vec![d[0], d[1], r, d[2], d[3]],
        },
        &[x],
    )?;
    s.reshape(x, vec![d[0], d[1] * r, d[2], d[3]])
}

/// Zeroes the rows whose bias is -inf everywhere (no attendable key).
fn zero_masked_rows(
    s: &mut Steps,
    dtype: DType,
    bias: ValueRef,
    probs: ValueRef,
) -> Result<ValueRef> {
    let last = s.imp.shape(bias).len() - 1;
    let top = s.emit(
        Op::Reduce {
            kind: ReduceKind::Max,
            axes: vec![last],
            keep_dims: true,
        },
        &[bias],
    )?;
    let masked = s.emit(
        Op::Unary {
            func: UnaryFunc::IsInf {
                positive: false,
                negative: true,
            },
        },
        &[top],
    )?;
    let zero = s.constant(dtype, &[], &[0.0])?;
    s.emit(Op::Where, &[masked, zero, probs])
}
