//! Cost models: what one op costs, for optimizers that choose between equivalent graphs
//! (the e-graph optimizer's extraction, later the learned cost model).

use crate::analysis::op_macs;
use crate::ir::{Graph, Op, TensorType};

/// One op to be priced: the op, its input types (and which inputs are constants) and
/// its output types.
#[derive(Clone, Copy, Debug)]
pub struct OpSite<'a> {
    pub op: &'a Op,
    pub inputs: &'a [&'a TensorType],
    /// Per input: whether it is a constant (weights, biases) rather than an activation.
    pub constant: &'a [bool],
    pub outputs: &'a [TensorType],
}

/// The cost of running one op on some target. Sources (graph inputs and constants) are
/// free; everything else is priced from the op and its input and output types.
pub trait OpCost: Send + Sync {
    /// A short name for reports (`default`, `npu-256`, ...).
    fn name(&self) -> &str;
    /// The cost of one op (non-negative).
    fn op_cost(&self, site: &OpSite<'_>) -> f64;
}

/// The target-independent cost: a fixed overhead per op (dispatch, one pass over memory)
/// plus its multiply-accumulates plus the bytes it reads and writes; reshapes and
/// identities move no data and cost the overhead only.
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

    fn op_cost(&self, site: &OpSite<'_>) -> f64 {
        let OpSite {
            op,
            inputs,
            outputs,
            ..
        } = *site;
        if op.is_source() {
            return 0.0;
        }
        if matches!(op, Op::Reshape { .. } | Op::Identity) {
            return Self::OP_OVERHEAD;
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
            let constant: Vec<bool> = ins.iter().map(|&v| g.const_value(v).is_some()).collect();
            let out_types: Vec<TensorType> = node.outputs.iter().map(|v| v.ty.clone()).collect();
            model.op_cost(&OpSite {
                op: &node.op,
                inputs: &in_types,
                constant: &constant,
                outputs: &out_types,
            })
        })
        .sum()
}
