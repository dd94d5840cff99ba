//! Node feature vectors for the predictor: the numbers of [`NodeFeatures`] on a log scale,
//! one-hot operator type, fused activation and element type, then standardized by the
//! training set's mean and spread ([`Standardizer`]).

use crate::features::{GraphFeatures, NodeFeatures};
use serde::{Deserialize, Serialize};

/// Operator types with a slot of their own; other detailed names fall back to their family
/// (the part before the dot), then to a last "other" slot.
pub const OPS: &[&str] = &[
    "conv",
    "conv_transpose",
    "gemm",
    "mat_mul",
    "binary.add",
    "binary.sub",
    "binary.mul",
    "binary.div",
    "binary.max",
    "binary.min",
    "binary",
    "p_relu",
    "svdf",
    "activation.relu",
    "activation.relu6",
    "activation.sigmoid",
    "activation.tanh",
    "activation.hard_swish",
    "activation",
    "softmax",
    "log_softmax",
    "batch_norm",
    "pool.max",
    "pool.avg",
    "pool",
    "reduce.mean",
    "reduce",
    "reshape",
    "transpose",
    "concat",
    "split",
    "slice",
    "pad",
    "gather",
    "resize",
    "depth_to_space",
    "quantize",
    "dequantize",
    "cast",
    "identity",
];

/// Fused activations with a slot (after a "none" slot; others share a last slot).
const ACTIVATIONS: &[&str] = &["relu", "relu6"];

/// Element types with a slot (others share a last slot).
const DTYPES: &[&str] = &["i8", "i32", "f32"];

/// Numbers per node before the one-hot parts.
const NUMERIC: usize = 21;

/// The length of a node's feature vector.
pub const NODE_FEATURES: usize = NUMERIC + OPS.len() + 1 + ACTIVATIONS.len() + 2 + DTYPES.len() + 1;

/// The raw (unstandardized) feature vector of one node.
pub fn encode_node(n: &NodeFeatures) -> Vec<f32> {
    let log = |v: f64| (1.0 + v.max(0.0)).ln() as f32;
    let mut out = Vec::with_capacity(NODE_FEATURES);
    out.extend([n.macs, n.weight_bytes, n.input_bytes, n.output_bytes].map(|v| log(v as f64)));
    out.extend(n.input_shape.map(|d| log(d as f64)));
    out.extend(n.output_shape.map(|d| log(d as f64)));
    out.extend(n.kernel.map(|k| k as f32));
    out.extend(n.stride.map(|s| s as f32));
    out.extend(n.dilation.map(|d| d as f32));
    out.push(log(n.groups as f64));
    let depthwise = n.groups > 1 && n.groups == n.output_shape[3];
    out.push(f32::from(u8::from(depthwise)));
    let outputs: usize = n.output_shape.iter().product();
    out.push(log(n.macs as f64 / outputs.max(1) as f64));
    debug_assert_eq!(out.len(), NUMERIC);
    out.extend(one_hot(op_slot(&n.op), OPS.len() + 1));
    let activation = match n.activation.as_deref() {
        None => 0,
        Some(a) => {
            1 + ACTIVATIONS
                .iter()
                .position(|&k| k == a)
                .unwrap_or(ACTIVATIONS.len())
        }
    };
    out.extend(one_hot(activation, ACTIVATIONS.len() + 2));
    let dtype = DTYPES
        .iter()
        .position(|&d| d == n.dtype)
        .unwrap_or(DTYPES.len());
    out.extend(one_hot(dtype, DTYPES.len() + 1));
    out
}

/// The slot of a detailed op name in [`OPS`] (its family's, or the last one).
fn op_slot(op: &str) -> usize {
    let family = op.split('.').next().unwrap_or(op);
    OPS.iter()
        .position(|&o| o == op)
        .or_else(|| OPS.iter().position(|&o| o == family))
        .unwrap_or(OPS.len())
}

fn one_hot(slot: usize, len: usize) -> Vec<f32> {
    (0..len).map(|k| f32::from(u8::from(k == slot))).collect()
}

/// A graph ready for the predictor: standardized node features and who feeds whom.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedGraph {
    /// Row-major, `nodes × NODE_FEATURES`.
    pub x: Vec<f32>,
    pub nodes: usize,
    /// For each node, the nodes whose outputs it reads (one entry per tensor).
    pub predecessors: Vec<Vec<usize>>,
    /// For each node, the nodes reading its outputs.
    pub successors: Vec<Vec<usize>>,
}

/// The per-feature mean and spread of a training set, applied to every graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fitted over the nodes of `graphs`. Constant features keep a spread of 1.
    pub fn fit<'a>(graphs: impl IntoIterator<Item = &'a GraphFeatures>) -> Standardizer {
        let mut sum = vec![0f64; NODE_FEATURES];
        let mut sum_sq = vec![0f64; NODE_FEATURES];
        let mut count = 0f64;
        for g in graphs {
            for n in &g.nodes {
                for (k, v) in encode_node(n).into_iter().enumerate() {
                    sum[k] += f64::from(v);
                    sum_sq[k] += f64::from(v) * f64::from(v);
                }
                count += 1.0;
            }
        }
        let count = count.max(1.0);
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let var = (s / count - m * m).max(0.0);
                if var > 1e-12 {
                    var.sqrt() as f32
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// `g` encoded and standardized.
    pub fn encode(&self, g: &GraphFeatures) -> EncodedGraph {
        let nodes = g.nodes.len();
        let mut x = Vec::with_capacity(nodes * NODE_FEATURES);
        for n in &g.nodes {
            let raw = encode_node(n);
            x.extend(
                raw.iter()
                    .zip(self.mean.iter().zip(&self.std))
                    .map(|(v, (m, s))| (v - m) / s),
            );
        }
        let mut predecessors = vec![Vec::new(); nodes];
        let mut successors = vec![Vec::new(); nodes];
        for e in &g.edges {
            if e.from < nodes && e.to < nodes {
                predecessors[e.to].push(e.from);
                successors[e.from].push(e.to);
            }
        }
        EncodedGraph {
            x,
            nodes,
            predecessors,
            successors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::features;
    use crate::space::{sample, Space};

    #[test]
    fn every_node_gets_a_full_vector() {
        let g = features(&sample(Space::Mobilenet, 1).unwrap()).unwrap();
        for n in &g.nodes {
            let v = encode_node(n);
            assert_eq!(v.len(), NODE_FEATURES);
            assert!(v.iter().all(|x| x.is_finite()));
        }
        let s = Standardizer::fit([&g]);
        let e = s.encode(&g);
        assert_eq!(e.x.len(), g.nodes.len() * NODE_FEATURES);
        assert_eq!(
            e.predecessors.iter().map(Vec::len).sum::<usize>(),
            g.edges.len()
        );
        // Standardized columns have mean 0 over the graph they were fitted on.
        let col0: f32 = e.x.iter().step_by(NODE_FEATURES).sum();
        assert!(col0.abs() < 1e-3 * g.nodes.len() as f32);
    }

    #[test]
    fn unknown_ops_fall_back_to_their_family_then_other() {
        assert_eq!(op_slot("conv"), 0);
        let binary = OPS.iter().position(|&o| o == "binary").unwrap();
        assert_eq!(op_slot("binary.pow"), binary);
        assert_eq!(op_slot("einsum"), OPS.len());
    }
}
