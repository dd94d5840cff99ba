//! Static figures of a graph: multiply-accumulates, parameters and activation memory.

use crate::ir::{Graph, NodeIndex, Op, TensorType, ValueRef};
use std::collections::HashMap;

/// Multiply-accumulate operations of one node (0 for ops without products).
pub fn node_macs(g: &Graph, n: NodeIndex) -> u64 {
    let node = g.node(n);
    let ins: Vec<&TensorType> = g.node_inputs(n).iter().map(|&v| g.ty(v)).collect();
    let outs: Vec<TensorType> = node.outputs.iter().map(|v| v.ty.clone()).collect();
    op_macs(&node.op, &ins, &outs)
}

/// Multiply-accumulate operations of `op` with these input and output types (0 for ops
/// without products).
pub fn op_macs(op: &Op, inputs: &[&TensorType], outputs: &[TensorType]) -> u64 {
    let out = match outputs.first() {
        Some(t) => t.num_elements() as u64,
        None => return 0,
    };
    let shape = |i: usize| inputs.get(i).map(|t| t.shape.as_slice()).unwrap_or(&[]);
    match op {
        Op::Conv(_) => {
            let w = shape(1);
            if w.len() != 4 {
                return 0;
            }
            // Weight elements per output channel = (C/group) * kh * kw in both layouts.
            out * (w[1] * w[2] * w[3]) as u64
        }
        Op::ConvTranspose { .. } => {
            let (x, w) = (shape(0), shape(1));
            if w.len() != 4 {
                return 0;
            }
            x.iter().product::<usize>() as u64 * (w.iter().product::<usize>() / w[0].max(1)) as u64
        }
        Op::Gemm(gemm) => {
            let a = shape(0);
            let k = if gemm.trans_a { a.first() } else { a.get(1) };
            out * k.copied().unwrap_or(0) as u64
        }
        Op::MatMul => {
            let a = shape(0);
            out * a.last().copied().unwrap_or(0) as u64
        }
        _ => 0,
    }
}

/// Total multiply-accumulates of the graph.
pub fn total_macs(g: &Graph) -> u64 {
    g.node_indices().into_iter().map(|n| node_macs(g, n)).sum()
}

/// (element count, bytes) of all constants.
pub fn parameter_totals(g: &Graph) -> (usize, usize) {
    g.node_indices()
        .into_iter()
        .filter_map(|n| match &g.node(n).op {
            Op::Const { .. } => Some(&g.node(n).outputs[0].ty),
            _ => None,
        })
        .fold((0, 0), |(e, b), t| {
            (e + t.num_elements(), b + t.size_bytes())
        })
}

/// Peak bytes of simultaneously live activations (graph inputs and op outputs; not
/// constants) when nodes run in the graph's topological order.
pub fn peak_activation_bytes(g: &Graph) -> usize {
    let order = g.topo_order().unwrap_or_else(|_| g.node_indices());
    let mut uses: HashMap<ValueRef, usize> = HashMap::new();
    for &n in &order {
        for v in g.node_inputs(n) {
            *uses.entry(v).or_default() += 1;
        }
    }
    for &o in g.outputs() {
        *uses.entry(o).or_default() += 1;
    }
    let (mut live, mut peak) = (0usize, 0usize);
    for &n in &order {
        let node = g.node(n);
        if matches!(node.op, Op::Const { .. }) {
            continue;
        }
        for v in &node.outputs {
            live += v.ty.size_bytes();
        }
        peak = peak.max(live);
        for v in g.node_inputs(n) {
            if matches!(g.node(v.node).op, Op::Const { .. }) {
                continue;
            }
            let left = uses.get_mut(&v).expect("counted");
            *left -= 1;
            if *left == 0 {
                live -= g.ty(v).size_bytes();
            }
        }
        for (k, v) in node.outputs.iter().enumerate() {
            if !uses.contains_key(&ValueRef { node: n, output: k }) {
                live -= v.ty.size_bytes();
            }
        }
    }
    peak
}
