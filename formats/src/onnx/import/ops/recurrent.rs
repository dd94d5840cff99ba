//! RNN, GRU and LSTM: one [`Op::Recurrent`] each. Omitted biases and initial states
//! become zero constants; every output exists in the IR, named after the node when the
//! model does not ask for it.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{
    DType, Op, RecurrentActivation, RecurrentAttrs, RecurrentCell, RecurrentDirection, Tensor,
    ValueRef,
};
use nnopt_compiler::Result;

/// RNN, GRU or LSTM.
pub(super) fn recurrent(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let cell = match cx.op_type() {
        "RNN" => RecurrentCell::Rnn,
        "GRU" => RecurrentCell::Gru {
            linear_before_reset: cx.int("linear_before_reset", 0)? != 0,
        },
        _ => RecurrentCell::Lstm {
            input_forget: cx.int("input_forget", 0)? != 0,
            peepholes: cx.opt_input(7).is_some(),
        },
    };
    let direction = match cx.string("direction", "forward")?.as_str() {
        "forward" => RecurrentDirection::Forward,
        "reverse" => RecurrentDirection::Reverse,
        "bidirectional" => RecurrentDirection::Bidirectional,
        other => return Err(cx.err(format!("direction '{other}' is not supported"))),
    };
    let batch_major = match cx.int("layout", 0)? {
        0 => false,
        1 => true,
        other => return Err(cx.err(format!("layout {other} is not supported"))),
    };
    let (x, w, r) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    if imp.ty(x).dtype != DType::F32 {
        return Err(cx.err(format!(
            "{} on {} is not supported (f32 only)",
            cx.op_type(),
            imp.ty(x)
        )));
    }
    let (xs, ws) = (imp.shape(x), imp.shape(w));
    if xs.len() != 3 || ws.len() != 3 {
        return Err(cx.err(format!(
            "X must have rank 3 and W rank 3, got {xs:?} and {ws:?}"
        )));
    }
    let dirs = direction.count();
    let rows = ws[1];
    let hidden_size = match cx.int("hidden_size", 0)? {
        h if h > 0 => h as usize,
        _ if rows % cell.gates() == 0 => rows / cell.gates(),
        _ => return Err(cx.err(format!("W has {rows} rows, not {} gates", cell.gates()))),
    };
    let attrs = RecurrentAttrs {
        cell,
        direction,
        hidden_size,
        activations: activations(cx, cell, dirs)?,
        clip: cx.has("clip").then(|| cx.float("clip", 0.0)).transpose()?,
        cell_clip: None,
        batch_major,
        sequence_lens: cx.opt_input(4).is_some(),
    };
    let batch = if batch_major { xs[0] } else { xs[1] };
    let gh = cell.gates() * hidden_size;
    let state = if batch_major {
        [batch, dirs, hidden_size]
    } else {
        [dirs, batch, hidden_size]
    };
    let name = cx.out(0).to_string();
    let base = if name.is_empty() {
        cx.out(1)
    } else {
        name.as_str()
    };
    let mut zeros = |i: usize, shape: &[usize], what: &str| match cx.opt_input(i) {
        Some(v) => v,
        None => imp.add_const(
            &format!("{base}_{what}"),
            Tensor::zeros(DType::F32, shape),
            None,
        ),
    };
    let mut ins = vec![
        x,
        w,
        r,
        zeros(3, &[dirs, 2 * gh], "b"),
        zeros(5, &state, "initial_h"),
    ];
    if matches!(cell, RecurrentCell::Lstm { .. }) {
        ins.push(zeros(6, &state, "initial_c"));
    }
    ins.extend(
        cx.opt_input(7)
            .filter(|_| matches!(cell, RecurrentCell::Lstm { .. })),
    );
    ins.extend(cx.opt_input(4));
    let outs = if matches!(cell, RecurrentCell::Lstm { .. }) {
        3
    } else {
        2
    };
    let names: Vec<String> = (0..outs)
        .map(|k| match cx.wants_output(k) {
            true => cx.out(k).to_string(),
            false => format!("{}_{}", cx.label, ["y", "y_h", "y_c"][k]),
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    imp.emit_q(Op::Recurrent(attrs), &ins, &names, None)
}

/// The `activations` with their `activation_alpha`/`activation_beta` (consumed in order by
/// the functions that take them, as onnxruntime does), one set per direction.
fn activations(cx: &NodeCtx, cell: RecurrentCell, dirs: usize) -> Result<Vec<RecurrentActivation>> {
    let Some(names) = cx.strings("activations")? else {
        return Ok(cell.default_activations().repeat(dirs));
    };
    let n = cell.functions();
    if names.len() != n * dirs && names.len() != n {
        return Err(cx.err(format!(
            "{} activations given, {} expected",
            names.len(),
            n * dirs
        )));
    }
    let alphas = cx.floats("activation_alpha")?.unwrap_or_default();
    let betas = cx.floats("activation_beta")?.unwrap_or_default();
    let (mut ai, mut bi) = (alphas.iter(), betas.iter());
    let mut alpha = |d: f32| ai.next().copied().unwrap_or(d);
    let mut beta = |d: f32| bi.next().copied().unwrap_or(d);
    let mut out = Vec::with_capacity(n * dirs);
    for name in names.iter().cycle().take(n * dirs) {
        use RecurrentActivation::*;
        out.push(match name.to_ascii_lowercase().as_str() {
            "relu" => Relu,
            "tanh" => Tanh,
            "sigmoid" => Sigmoid,
            "affine" => Affine {
                alpha: alpha(1.0),
                beta: beta(0.0),
            },
            "leakyrelu" => LeakyRelu { alpha: alpha(0.01) },
            "thresholdedrelu" => ThresholdedRelu { alpha: alpha(1.0) },
            "scaledtanh" => ScaledTanh {
                alpha: alpha(1.0),
                beta: beta(1.0),
            },
            "hardsigmoid" => HardSigmoid {
                alpha: alpha(0.2),
                beta: beta(0.5),
            },
            "elu" => Elu { alpha: alpha(1.0) },
            "softsign" => Softsign,
            "softplus" => Softplus,
            other => return Err(cx.err(format!("activation '{other}' is not supported"))),
        });
    }
    Ok(out)
}
