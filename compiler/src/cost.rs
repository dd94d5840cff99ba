//! Cost models: what one op costs, for optimizers that choose between equivalent graphs
//! (the e-graph optimizer's extraction, later the learned cost model).

use crate::analysis::op_macs;
use crate::ir::{Graph, Op, TensorType};

/// The cost of running one op on some target. Sources (graph inputs and constants) are
/// free; everything else is priced from the op and its input and output types.
pub trait OpCost: Send + Sync {
    /// A short name for reports (`default`, `npu-256`, ...).
    fn name(&self) -> &str;
    /// The cost of `op` reading `inputs` and producing `outputs` (non-negative).
    fn op_cost(&self, op: &Op, inputs: &[&TensorType], outputs: &[TensorType]) -> f64;
}

/// The target-independent cost: a fixed overhead per op (dispatch, one pass over memory)
/// plus its multiply-accumulates plus the bytes it reads and writes.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultCost;

impl DefaultCost {
    /// The overhead of one op, in the same units as one MAC or one byte.
    pub const OP_OVERHEAD: f64 = 64.0;
}

impl OpCost for DefaultCost {
    fn name(&self) -> &str {
        "default"
    }

    fn op_cost(&self, op: &Op, inputs: &[&TensorType], outputs: &[TensorType]) -> f64 {
        if op.is_source() {
            return 0.0;
        }
        let bytes: usize = inputs.iter().map(|t| t.size_bytes()).sum::<usize>()
            + outputs.iter().map(TensorType::size_bytes).sum::<usize>();
        Self::OP_OVERHEAD + op_macs(op, inputs, outputs) as f64 + bytes as f64
    }
}

/// The total cost of a graph: the sum of its ops' costs (each node counted once).
pub fn graph_cost(g: &Graph, model: &dyn OpCost) -> f64 {
    g.node_indices()
        .into_iter()
        .map(|n| {
            let node = g.node(n);
            let ins = g.node_inputs(n);
            let in_types: Vec<&TensorType> = ins.iter().map(|&v| g.ty(v)).collect();
            let out_types: Vec<TensorType> = node.outputs.iter().map(|v| v.ty.clone()).collect();
            model.op_cost(&node.op, &in_types, &out_types)
        })
        .sum()
}
