//! RNN, GRU and LSTM from [`Op::Recurrent`](nnopt_compiler::ir::Op::Recurrent) (f32 only:
//! TFLite's cell clip and the integer LSTM have no ONNX form).

use super::NodeArgs;
use crate::onnx::export::builder::Builder;
use crate::onnx::export::proto::{attr, Attr};
use nnopt_compiler::ir::{RecurrentActivation, RecurrentAttrs, RecurrentCell, RecurrentDirection};
use nnopt_compiler::{bail, Result};

/// One RNN, GRU or LSTM node with all its outputs.
pub(crate) fn recurrent(b: &mut Builder, cx: NodeArgs, a: &RecurrentAttrs) -> Result<()> {
    let NodeArgs { node, name, ins, x } = cx;
    if ins.iter().any(|&v| b.g.ty(v).is_quantized()) {
        bail!("node '{name}': an integer recurrent layer has no ONNX operator");
    }
    if a.cell_clip.is_some() {
        bail!("node '{name}': a recurrent layer with TFLite's cell_clip has no ONNX attribute");
    }
    let slots = a.slots();
    let opt = |i: Option<usize>| i.map_or_else(String::new, |i| x[i].clone());
    // ONNX slots: X, W, R, B, sequence_lens, initial_h, initial_c, P.
    let mut inputs = vec![
        x[0].clone(),
        x[1].clone(),
        x[2].clone(),
        x[3].clone(),
        opt(slots.sequence_lens),
        x[4].clone(),
    ];
    if let RecurrentCell::Lstm { .. } = a.cell {
        inputs.push(opt(slots.initial_c));
        inputs.push(opt(slots.peepholes));
    }
    while inputs.last().is_some_and(String::is_empty) {
        inputs.pop();
    }
    let direction = match a.direction {
        RecurrentDirection::Forward => "forward",
        RecurrentDirection::Reverse => "reverse",
        RecurrentDirection::Bidirectional => "bidirectional",
    };
    let (mut names, mut alphas, mut betas) = (vec![], vec![], vec![]);
    for f in &a.activations {
        use RecurrentActivation::*;
        let (n, al, be) = match *f {
            Relu => ("Relu", None, None),
            Tanh => ("Tanh", None, None),
            Sigmoid => ("Sigmoid", None, None),
            Affine { alpha, beta } => ("Affine", Some(alpha), Some(beta)),
            LeakyRelu { alpha } => ("LeakyRelu", Some(alpha), None),
            ThresholdedRelu { alpha } => ("ThresholdedRelu", Some(alpha), None),
            ScaledTanh { alpha, beta } => ("ScaledTanh", Some(alpha), Some(beta)),
            HardSigmoid { alpha, beta } => ("HardSigmoid", Some(alpha), Some(beta)),
            Elu { alpha } => ("Elu", Some(alpha), None),
            Softsign => ("Softsign", None, None),
            Softplus => ("Softplus", None, None),
        };
        names.push(n.to_string());
        alphas.extend(al);
        betas.extend(be);
    }
    let mut attrs = vec![
        attr("hidden_size", Attr::Int(a.hidden_size as i64)),
        attr("direction", Attr::Str(direction.into())),
        attr("activations", Attr::Strs(names)),
        attr("layout", Attr::Int(i64::from(a.batch_major))),
    ];
    if !alphas.is_empty() {
        attrs.push(attr("activation_alpha", Attr::Floats(alphas)));
    }
    if !betas.is_empty() {
        attrs.push(attr("activation_beta", Attr::Floats(betas)));
    }
    if let Some(c) = a.clip {
        attrs.push(attr("clip", Attr::Float(c)));
    }
    let op_type = match a.cell {
        RecurrentCell::Rnn => "RNN",
        RecurrentCell::Gru {
            linear_before_reset,
        } => {
            attrs.push(attr(
                "linear_before_reset",
                Attr::Int(i64::from(linear_before_reset)),
            ));
            "GRU"
        }
        RecurrentCell::Lstm { input_forget, .. } => {
            attrs.push(attr("input_forget", Attr::Int(i64::from(input_forget))));
            "LSTM"
        }
    };
    let outs: Vec<String> = node.outputs.iter().map(|v| b.fresh(&v.name)).collect();
    b.push(op_type, name, inputs, outs.clone(), attrs);
    for (o, v) in outs.into_iter().zip(&node.outputs) {
        b.finish_output(o, v)?;
    }
    Ok(())
}
