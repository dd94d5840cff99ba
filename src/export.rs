//! `nnopt export`: helpers of the TFLite export command.

use nnopt_compiler::ir::Graph;

/// Whether the graph computes with quantized integer tensors (an int8 model).
pub fn is_quantized(g: &Graph) -> bool {
    g.node_indices().into_iter().any(|n| {
        let node = g.node(n);
        !node.op.is_source() && node.outputs.iter().any(|v| v.ty.is_quantized())
    })
}
