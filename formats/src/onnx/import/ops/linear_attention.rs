//! LinearAttention (opset 27) as its recurrence unrolled over the static sequence: per
//! step the state `[B, H_kv, d_k, d_v]` decays by `exp(decay)` (gated rules), the value is
//! corrected by what the state already retrieves for the key (delta rules), the key-value
//! outer product is added, and the queries read the state (grouped-query heads share a
//! key/value head). Everything runs in f32, as ONNX's reference does; the graph grows
//! linearly with the sequence length.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use nnopt_compiler::ir::{BinaryKind, DType, Op, UnaryFunc, ValueRef};
use nnopt_compiler::Result;

/// The longest sequence the importer unrolls.
const MAX_STEPS: usize = 1 << 12;

/// `x` `[B, T, ...]` split into its T steps along axis 1, in f32.
fn steps_of(s: &mut Steps, x: ValueRef, t: usize) -> Result<Vec<ValueRef>> {
    let x = s.cast(x, DType::F32)?;
    if t == 1 {
        return Ok(vec![x]);
    }
    let names: Vec<String> = (0..t).map(|_| s.name()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let op = Op::Split {
        axis: 1,
        sizes: vec![1; t],
    };
    s.imp.emit_q(op, &[x], &names, None)
}

/// LinearAttention: (query `[B, T, H_q * d_k]`, key `[B, T, H_kv * d_k]`, value
/// `[B, T, H_kv * d_v]`, [past_state], [decay], [beta]) -> (output `[B, T, H_q * d_v]`,
/// present_state).
pub(super) fn linear_attention(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let rule = cx.string("update_rule", "gated_delta")?;
    let (gating, delta) = match rule.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        r => return Err(cx.err(format!("unknown update_rule '{r}'"))),
    };
    let (decay, beta) = (cx.opt_input(4), cx.opt_input(5));
    if gating != decay.is_some() || delta != beta.is_some() {
        return Err(cx.err(format!(
            "update_rule '{rule}' {} decay and {} beta",
            if gating { "needs" } else { "forbids" },
            if delta { "needs" } else { "forbids" }
        )));
    }
    let heads = |name| -> Result<usize> {
        usize::try_from(cx.int(name, 0)?)
            .ok()
            .filter(|&h| h > 0)
            .ok_or_else(|| cx.err(format!("{name} must be a positive attribute")))
    };
    let (hq, hkv) = (heads("q_num_heads")?, heads("kv_num_heads")?);
    let dtype = imp.ty(q).dtype;
    let (qs, ks, vs) = (imp.shape(q), imp.shape(k), imp.shape(v));
    let [b, t, qw] = qs[..] else {
        return Err(cx.err(format!("query must be [B, T, H * d], got {qs:?}")));
    };
    let (dk, dv) = (qw / hq, vs.last().copied().unwrap_or(0) / hkv);
    let fits = dtype.is_float()
        && t > 0
        && hq.is_multiple_of(hkv)
        && qw == hq * dk
        && ks == [b, t, hkv * dk]
        && vs == [b, t, hkv * dv];
    if !fits {
        return Err(cx.err(format!(
            "query {qs:?}, key {ks:?} and value {vs:?} do not fit {hq} query and {hkv} \
             key/value heads"
        )));
    }
    let side = |v: Option<ValueRef>, what: &str, lasts: &[usize]| -> Result<Option<usize>> {
        let Some(v) = v else { return Ok(None) };
        match imp.shape(v)[..] {
            [vb, vt, last] if vb == b && vt == t && lasts.contains(&last) => Ok(Some(last)),
            _ => Err(cx.err(format!(
                "{what} must be [{b}, {t}, one of {lasts:?}], got {:?}",
                imp.shape(v)
            ))),
        }
    };
    if t > MAX_STEPS {
        return Err(cx.err(format!(
            "a sequence of {t} steps is longer than the {MAX_STEPS} the importer unrolls"
        )));
    }
    let decay_last = side(decay, "decay", &[hkv, hkv * dk])?;
    let beta_last = side(beta, "beta", &[hkv, 1])?;
    let state_dtype = match cx.opt_input(3) {
        Some(p) if imp.shape(p) == [b, hkv, dk, dv] && imp.ty(p).dtype.is_float() => {
            imp.ty(p).dtype
        }
        Some(p) => {
            return Err(cx.err(format!(
                "past_state must be [{b}, {hkv}, {dk}, {dv}] floats, got {}",
                imp.ty(p)
            )))
        }
        None => dtype,
    };
    let scale = match cx.float("scale", 0.0)? {
        0.0 => 1.0 / (dk as f64).sqrt(),
        x => x as f64,
    };

    let mut s = Steps::new(imp, format!("{}_lin", cx.out(0)));
    let mut state = match cx.opt_input(3) {
        Some(p) => s.cast(p, DType::F32)?,
        None => s.constant_fn(DType::F32, &[b, hkv, dk, dv], "the state", |_| 0.0)?,
    };
    let (qt, kt, vt) = (
        steps_of(&mut s, q, t)?,
        steps_of(&mut s, k, t)?,
        steps_of(&mut s, v, t)?,
    );
    let dt = match decay {
        Some(d) => steps_of(&mut s, d, t)?,
        None => vec![],
    };
    let bt = match beta {
        Some(x) => steps_of(&mut s, x, t)?,
        None => vec![],
    };
    let scale = s.constant(DType::F32, &[], &[scale])?;
    let mut outs = Vec::with_capacity(t);
    for i in 0..t {
        if let Some(last) = decay_last {
            let g = s.reshape(dt[i], vec![b, hkv, last / hkv, 1])?;
            let g = s.unary(UnaryFunc::Exp, g)?;
            state = s.binary(BinaryKind::Mul, state, g)?;
        }
        let k_row = s.reshape(kt[i], vec![b, hkv, 1, dk])?;
        let mut v_row = s.reshape(vt[i], vec![b, hkv, 1, dv])?;
        if let Some(last) = beta_last {
            let got = s.emit(Op::MatMul, &[k_row, state])?;
            let diff = s.binary(BinaryKind::Sub, v_row, got)?;
            let beta = s.reshape(bt[i], vec![b, last, 1, 1])?;
            v_row = s.binary(BinaryKind::Mul, beta, diff)?;
        }
        let k_col = s.reshape(kt[i], vec![b, hkv, dk, 1])?;
        let write = s.binary(BinaryKind::Mul, k_col, v_row)?;
        state = s.binary(BinaryKind::Add, state, write)?;
        // Query head h reads key/value head h / (hq / hkv).
        let q_rows = s.reshape(qt[i], vec![b, hkv, hq / hkv, dk])?;
        let o = s.emit(Op::MatMul, &[q_rows, state])?;
        let o = s.binary(BinaryKind::Mul, o, scale)?;
        outs.push(s.reshape(o, vec![b, 1, hq * dv])?);
    }
    let y = match t {
        1 => outs[0],
        _ => s.emit(Op::Concat { axis: 1 }, &outs)?,
    };
    let y = s.cast(y, dtype)?;
    let state = s.cast(state, state_dtype)?;
    Ok(vec![
        s.imp.emit(Op::Identity, &[y], cx.out(0))?,
        s.imp.emit(Op::Identity, &[state], cx.out(1))?,
    ])
}
