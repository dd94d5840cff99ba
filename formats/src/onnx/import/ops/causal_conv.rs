//! CausalConvWithState (opset 27) as a depthwise convolution: the input is prefixed with
//! the past state (or `kernel - 1` zeros), convolved without padding (1-D lifted to 2-D
//! with H = 1), optionally passed through SiLU, and the last `kernel - 1` positions of the
//! prefixed input are the present state.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use nnopt_compiler::ir::{ConvAttrs, Layout, Op, PadMode, UnaryFunc, ValueRef};
use nnopt_compiler::Result;

/// CausalConvWithState: (input `[B, C, L]`, weight `[C, 1, k]`, [bias `[C]`],
/// [past_state `[B, C, k - 1]`]) -> (output `[B, C, L]`, present_state).
pub(super) fn causal_conv_with_state(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let (xs, ws) = (imp.shape(x), imp.shape(w));
    let dtype = imp.ty(x).dtype;
    let (&[b, c, len], &[wc, 1, k]) = (&xs[..], &ws[..]) else {
        return Err(cx.err(format!(
            "input must be [B, C, L] and weight [C, 1, k], got {xs:?} and {ws:?}"
        )));
    };
    if !dtype.is_float() || wc != c || k == 0 || imp.ty(w).dtype != dtype {
        return Err(cx.err(format!(
            "weight {} does not fit input {} (depthwise [C, 1, k] of one float type)",
            imp.ty(w),
            imp.ty(x)
        )));
    }
    let silu = match cx.string("activation", "none")?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        a => return Err(cx.err(format!("unknown activation '{a}'"))),
    };
    let mut s = Steps::new(imp, format!("{}_cconv", cx.out(0)));
    let padded = match cx.opt_input(3) {
        Some(past) => {
            if s.imp.ty(past).dtype != dtype || s.imp.shape(past) != [b, c, k - 1] {
                return Err(cx.err(format!(
                    "past_state must be [{b}, {c}, {}] {dtype}, got {}",
                    k - 1,
                    s.imp.ty(past)
                )));
            }
            s.emit(Op::Concat { axis: 2 }, &[past, x])?
        }
        None if k > 1 => s.emit(
            Op::Pad {
                pads: vec![(0, 0), (0, 0), (k - 1, 0)],
                mode: PadMode::Constant,
                value: 0.0,
            },
            &[x],
        )?,
        None => x,
    };
    let x2 = s.reshape(padded, vec![b, c, 1, len + k - 1])?;
    let w2 = s.reshape(w, vec![c, 1, 1, k])?;
    let mut ins = vec![x2, w2];
    ins.extend(cx.opt_input(2));
    let conv = ConvAttrs {
        layout: Layout::Nchw,
        strides: [1, 1],
        dilations: [1, 1],
        pads: [0; 4],
        group: c,
        activation: None,
    };
    let y = s.emit(Op::Conv(conv), &ins)?;
    let mut y = s.reshape(y, vec![b, c, len])?;
    if silu {
        y = s.unary(UnaryFunc::Swish { alpha: 1.0 }, y)?;
    }
    let state = s.slice(padded, 2, len, len + k - 1, 1)?;
    Ok(vec![
        s.imp.emit(Op::Identity, &[y], cx.out(0))?,
        s.imp.emit(Op::Identity, &[state], cx.out(1))?,
    ])
}
