//! What the cost model sees of a network: one node per operator (graph inputs and
//! constants excluded; constants count as the operator's weight bytes) with its type,
//! options, shapes, MACs and bytes, and one edge per tensor passed between operators.
//! Dataset records store these, so that a dataset is usable without its model files.

use nnopt_compiler::analysis::op_macs;
use nnopt_compiler::cost::OpSite;
use nnopt_compiler::ir::{Graph, Layout, NodeIndex, Op, TensorType};
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeFeatures {
    /// The node's name (for a model read from TFLite, its output tensor's name, which
    /// Vela's per-operator table also uses).
    pub name: String,
    /// The detailed IR op name (`conv`, `binary.add`, `activation.hard_swish`, ...).
    pub op: String,
    /// Convolution and pooling window, strides and dilations (height, width); zeros for
    /// other ops.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Convolution groups (the channels of a depthwise convolution); 1 otherwise.
    pub groups: usize,
    /// A fused activation (`relu`, `relu6`, ...).
    pub activation: Option<String>,
    /// The first activation input's shape and the output's, padded to 4-D with leading 1s.
    pub input_shape: [usize; 4],
    pub output_shape: [usize; 4],
    /// Element type of the output (`i8`, `i32`, `f32`, ...).
    pub dtype: String,
    pub macs: u64,
    /// Bytes of constant inputs (weights, biases).
    pub weight_bytes: u64,
    /// Bytes of activation inputs and of outputs.
    pub input_bytes: u64,
    pub output_bytes: u64,
}

/// A tensor from one operator to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeFeatures {
    /// Indices into [`GraphFeatures::nodes`].
    pub from: usize,
    pub to: usize,
    pub bytes: u64,
}

/// A network's operators in topological order, and its edges.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GraphFeatures {
    pub nodes: Vec<NodeFeatures>,
    pub edges: Vec<EdgeFeatures>,
}

/// The features of `g`.
pub fn features(g: &Graph) -> Result<GraphFeatures> {
    let order = g.topo_order().map_err(|n| {
        Error::new(format!(
            "the graph has a cycle through '{}'",
            g.node(n).name
        ))
    })?;
    let ops: Vec<NodeIndex> = order
        .into_iter()
        .filter(|&n| !g.node(n).op.is_source())
        .collect();
    let index: HashMap<NodeIndex, usize> = ops.iter().enumerate().map(|(k, &n)| (n, k)).collect();
    let mut out = GraphFeatures::default();
    for (k, &n) in ops.iter().enumerate() {
        let node = g.node(n);
        let inputs = g.node_inputs(n);
        for &v in &inputs {
            if g.const_value(v).is_none() {
                if let Some(&from) = index.get(&v.node) {
                    let bytes = g.ty(v).size_bytes() as u64;
                    out.edges.push(EdgeFeatures { from, to: k, bytes });
                }
            }
        }
        let types: Vec<&TensorType> = inputs.iter().map(|&v| g.ty(v)).collect();
        let constant: Vec<bool> = inputs.iter().map(|&v| g.const_value(v).is_some()).collect();
        let outputs: Vec<TensorType> = node.outputs.iter().map(|o| o.ty.clone()).collect();
        let site = OpSite {
            op: &node.op,
            inputs: &types,
            constant: &constant,
            outputs: &outputs,
        };
        out.nodes
            .push(site_features(&node.name, &site, Precision::AsIs));
    }
    Ok(out)
}

/// How [`site_features`] counts element types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// As the types say.
    AsIs,
    /// As the op would be after int8 quantization: float activations and weights take
    /// one byte an element, float biases (1-D constants) four, outputs are `i8`.
    Int8,
}

/// The features of one op from its types (see [`OpSite`]), named `name`.
pub fn site_features(name: &str, site: &OpSite<'_>, precision: Precision) -> NodeFeatures {
    let bytes = |t: &TensorType, constant: bool| -> u64 {
        match precision {
            Precision::Int8 if t.dtype.is_float() => {
                let width = if constant && t.shape.len() == 1 { 4 } else { 1 };
                (t.num_elements() * width) as u64
            }
            _ => t.size_bytes() as u64,
        }
    };
    let (mut weight_bytes, mut input_bytes) = (0u64, 0u64);
    let mut first_activation = None;
    for (k, t) in site.inputs.iter().enumerate() {
        if site.constant.get(k).copied().unwrap_or(false) {
            weight_bytes += bytes(t, true);
        } else {
            input_bytes += bytes(t, false);
            first_activation.get_or_insert(*t);
        }
    }
    let output = site.outputs.first();
    let (mut kernel, stride, dilation, groups) = window(site.op);
    if let (Op::Conv(c) | Op::ConvTranspose { conv: c, .. }, Some(w)) =
        (site.op, site.inputs.get(1))
    {
        kernel = conv_kernel(c.layout, &w.shape);
    }
    let dtype = match (precision, output) {
        (Precision::Int8, Some(o)) if o.dtype.is_float() => "i8".to_string(),
        (_, Some(o)) => o.dtype.to_string(),
        (_, None) => String::new(),
    };
    NodeFeatures {
        name: name.to_string(),
        op: site.op.detailed_name(),
        kernel,
        stride,
        dilation,
        groups,
        activation: site
            .op
            .fused_activation()
            .and_then(|a| serde_json::to_value(a).ok())
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other
                    .as_object()
                    .and_then(|m| m.keys().next().cloned())
                    .unwrap_or_default(),
            }),
        input_shape: pad4(first_activation.map(|t| t.shape.as_slice()).unwrap_or(&[])),
        output_shape: pad4(output.map(|o| o.shape.as_slice()).unwrap_or(&[])),
        dtype,
        macs: op_macs(site.op, site.inputs, site.outputs),
        weight_bytes,
        input_bytes,
        output_bytes: site.outputs.iter().map(|o| bytes(o, false)).sum(),
    }
}

/// Window, strides, dilations and groups of convolutions and pooling.
fn window(op: &Op) -> ([usize; 2], [usize; 2], [usize; 2], usize) {
    let two = |v: &[usize], default: usize| {
        [
            v.first().copied().unwrap_or(default),
            v.get(1).copied().unwrap_or(default),
        ]
    };
    match op {
        Op::Conv(c) | Op::ConvTranspose { conv: c, .. } => {
            ([0, 0], c.strides, c.dilations, c.group.max(1))
        }
        Op::Pool { pool, .. } => (
            two(&pool.kernel, 0),
            two(&pool.strides, 1),
            two(&pool.dilations, 1),
            1,
        ),
        _ => ([0, 0], [0, 0], [0, 0], 1),
    }
}

/// The kernel (height, width) of convolution weights: OHWI for NHWC, OIHW for NCHW.
fn conv_kernel(layout: Layout, w: &[usize]) -> [usize; 2] {
    match (layout, w) {
        (Layout::Nhwc, [_, h, w, _]) | (Layout::Nchw, [_, _, h, w]) => [*h, *w],
        _ => [0, 0],
    }
}

/// `shape` with leading 1s to rank 4 (the last 4 axes of longer shapes).
fn pad4(shape: &[usize]) -> [usize; 4] {
    let mut out = [1; 4];
    let tail = &shape[shape.len().saturating_sub(4)..];
    out[4 - tail.len()..].copy_from_slice(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{sample, Space};

    #[test]
    fn features_cover_every_operator_and_tensor() {
        let g = sample(Space::Mobilenet, 5).unwrap();
        let f = features(&g).unwrap();
        let ops = g
            .node_indices()
            .into_iter()
            .filter(|&n| !g.node(n).op.is_source())
            .count();
        assert_eq!(f.nodes.len(), ops);
        // Edges go forward (topological order) and carry the tensor's bytes.
        assert!(f.edges.iter().all(|e| e.from < e.to && e.bytes > 0));
        let first = &f.nodes[0];
        assert_eq!(first.op, "conv");
        assert_eq!(
            (first.kernel, first.stride, first.groups),
            ([3, 3], [2, 2], 1)
        );
        assert!(first.macs > 0 && first.weight_bytes > 0);
        let macs: u64 = f.nodes.iter().map(|n| n.macs).sum();
        assert_eq!(macs, nnopt_compiler::analysis::total_macs(&g));
        assert!(
            f.nodes.iter().any(|n| n.groups > 1),
            "depthwise convolutions"
        );
    }

    #[test]
    fn shapes_pad_to_rank_4() {
        assert_eq!(pad4(&[1, 10]), [1, 1, 1, 10]);
        assert_eq!(pad4(&[2, 3, 4, 5, 6]), [3, 4, 5, 6]);
        assert_eq!(pad4(&[]), [1, 1, 1, 1]);
    }
}
