//! The layers a search compresses: every node of a training program's forward graph
//! that gets per-channel int8 weights (convolutions, Gemm, MatMul) whose weights are a
//! trained parameter.

use crate::grid::Channels;
use nnopt_compiler::ir::NodeIndex;
use nnopt_compiler::{Error, Result};
use nnopt_passes::weight_axis;
use nnopt_train::TrainingProgram;

/// A compressible layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    /// The node's name (what `quantize-int8`'s weight bits and the NPU's weight blocks
    /// are named by).
    pub node: String,
    /// Its index in the forward graph (kept by quantization, which may rename it).
    pub index: NodeIndex,
    /// Index of its weights among the program's parameters.
    pub param: usize,
    /// Weight values.
    pub len: usize,
    pub layout: Channels,
}

/// The compressible layers of `program`, in graph order.
pub fn layers(program: &TrainingProgram) -> Result<Vec<Layer>> {
    let g = &program.forward;
    let mut out = Vec::new();
    for n in g.node_indices() {
        let Some(axis) = weight_axis(g, n) else {
            continue;
        };
        let Some(&w) = g.node_inputs(n).get(1) else {
            continue;
        };
        let name = &g.node(w.node).name;
        let Some(param) = program.params.iter().position(|p| &p.name == name) else {
            continue;
        };
        let shape = &program.params[param].shape;
        out.push(Layer {
            node: g.node(n).name.clone(),
            index: n,
            param,
            len: shape.iter().product(),
            layout: Channels::of(shape, axis),
        });
    }
    if out.is_empty() {
        return Err(Error::new(
            "the model has no layers with trainable weights to compress (conv, gemm or matmul)",
        ));
    }
    Ok(out)
}
