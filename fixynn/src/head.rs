//! A fresh classifier head for a task: the last fully connected layer before the model
//! output gets as many outputs as the task has classes, with He-uniform weights from a
//! seed and a zero bias; shapes after it are inferred again.

use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{Graph, Op, Tensor};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{bail, Error, Result};
use nnopt_passes::ShapeInference;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// `g` with its classifier replaced by a fresh one of `classes` outputs, and the names of
/// the classifier's weight and bias constants.
pub fn with_fresh_head(g: &Graph, classes: usize, seed: u64) -> Result<(Graph, Vec<String>)> {
    if classes < 2 {
        bail!("a task needs at least 2 classes, got {classes}");
    }
    let mut g = g.clone();
    let [out] = g.outputs() else {
        bail!(
            "a classifier has one output, this model has {}",
            g.outputs().len()
        );
    };
    // Walk back through ops that keep the class axis alone (softmax, identities).
    let mut n = out.node;
    loop {
        match &g.node(n).op {
            Op::Gemm(_) | Op::MatMul => break,
            Op::Softmax { .. } | Op::LogSoftmax { .. } | Op::Identity => {
                n = g.node_inputs(n)[0].node;
            }
            other => {
                return Err(Error::at_node(
                    &g.node(n).name,
                    format!(
                        "the model must end in a fully connected classifier (Gemm or MatMul), \
                         found '{}'",
                        other.name()
                    ),
                ))
            }
        }
    }
    let node_name = g.node(n).name.clone();
    let inputs = g.node_inputs(n);
    let trans_b = match &g.node(n).op {
        Op::Gemm(a) => {
            if a.trans_a {
                return Err(Error::at_node(
                    &node_name,
                    "a transposed classifier input is not supported",
                ));
            }
            a.trans_b
        }
        _ => false,
    };
    let w = inputs[1];
    let Some(old) = g.const_value(w) else {
        return Err(Error::at_node(
            &node_name,
            "the classifier's weights are not constant",
        ));
    };
    let [a, b] = old.shape() else {
        return Err(Error::at_node(
            &node_name,
            "the classifier's weights are not a matrix",
        ));
    };
    let fan_in = if trans_b { *b } else { *a };
    let shape = if trans_b {
        [classes, fan_in]
    } else {
        [fan_in, classes]
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let limit = (6.0 / fan_in as f32).sqrt();
    let values: Vec<f32> = (0..classes * fan_in)
        .map(|_| rng.random_range(-limit..limit))
        .collect();
    let weights = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), values).expect("sized"));
    g.node_mut(w.node).op = Op::Const {
        value: weights.clone(),
    };
    g.node_mut(w.node).outputs[0].ty = weights.tensor_type();
    let mut names = vec![g.node(w.node).name.clone()];
    if let Some(&bias) = inputs.get(2) {
        let zeros = Tensor::F32(ArrayD::zeros(IxDyn(&[classes])));
        g.node_mut(bias.node).op = Op::Const {
            value: zeros.clone(),
        };
        g.node_mut(bias.node).outputs[0].ty = zeros.tensor_type();
        names.push(g.node(bias.node).name.clone());
    }
    ShapeInference
        .run(&mut g)
        .map_err(|e| e.in_node(&node_name))?;
    Ok((g, names))
}
