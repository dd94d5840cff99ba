//! Graphs of different sizes packed into one: the nodes of all graphs stacked, the edges
//! as index lists with the weights that turn a sum over them into a mean over each node's
//! predecessors (or successors), and each node's graph. Aggregation is then a gather and a
//! segment sum (`index_select`, `index_add`), linear in nodes and edges; no padding.

use crate::encode::{EncodedGraph, NODE_FEATURES};
use candle_core::{Device, Result, Tensor};

/// `B` graphs with `M` nodes and `E` edges in all.
pub struct Batch {
    /// `[M, NODE_FEATURES]`.
    pub x: Tensor,
    /// `[E]`: edge sources and destinations (node indices into the batch).
    pub edge_from: Option<Tensor>,
    pub edge_to: Option<Tensor>,
    /// `[E, 1]`: 1 / (predecessors of the destination), 1 / (successors of the source).
    pub weight_in: Option<Tensor>,
    pub weight_out: Option<Tensor>,
    /// `[M]`: each node's graph.
    pub graph_of_node: Tensor,
    /// `[B, 1]`: 1 / each graph's node count, and its natural log.
    pub inverse_nodes: Tensor,
    pub log_nodes: Tensor,
    /// Where each graph's nodes start in the stack, and how many it has.
    pub offsets: Vec<(usize, usize)>,
}

impl Batch {
    /// Packs `graphs` (each with at least one node).
    pub fn new(graphs: &[&EncodedGraph], device: &Device) -> Result<Batch> {
        let total: usize = graphs.iter().map(|g| g.nodes).sum();
        let mut x = Vec::with_capacity(total * NODE_FEATURES);
        let (mut from, mut to, mut w_in, mut w_out) = (vec![], vec![], vec![], vec![]);
        let mut graph_of_node = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(graphs.len());
        let mut start = 0usize;
        for (k, g) in graphs.iter().enumerate() {
            x.extend_from_slice(&g.x);
            graph_of_node.extend(std::iter::repeat_n(k as u32, g.nodes));
            for (dst, preds) in g.predecessors.iter().enumerate() {
                for &src in preds {
                    from.push((start + src) as u32);
                    to.push((start + dst) as u32);
                    w_in.push(1.0 / preds.len() as f32);
                    w_out.push(1.0 / g.successors[src].len().max(1) as f32);
                }
            }
            offsets.push((start, g.nodes));
            start += g.nodes;
        }
        let edges = from.len();
        let column = |v: Vec<f32>| Tensor::from_vec(v, (edges, 1), device);
        let (edge_from, edge_to, weight_in, weight_out) = if edges == 0 {
            (None, None, None, None)
        } else {
            (
                Some(Tensor::from_vec(from, edges, device)?),
                Some(Tensor::from_vec(to, edges, device)?),
                Some(column(w_in)?),
                Some(column(w_out)?),
            )
        };
        let counts: Vec<f32> = graphs.iter().map(|g| g.nodes.max(1) as f32).collect();
        let b = graphs.len();

        Ok(Batch {
            x: Tensor::from_vec(x, (total, NODE_FEATURES), device)?,
            edge_from,
            edge_to,
            weight_in,
            weight_out,
            graph_of_node: Tensor::from_vec(graph_of_node, total, device)?,
            inverse_nodes: Tensor::from_vec(
                counts.iter().map(|c| 1.0 / c).collect(),
                (b, 1),
                device,
            )?,
            log_nodes: Tensor::from_vec(counts.iter().map(|c| c.ln()).collect(), (b, 1), device)?,
            offsets,
        })
    }

    /// For each node, the mean of `h`'s rows over its predecessors (`incoming`) or its
    /// successors; zero for nodes without any.
    pub fn neighbour_mean(&self, h: &Tensor, incoming: bool) -> Result<Tensor> {
        let zeros = h.zeros_like()?;
        let (Some(from), Some(to), Some(w_in), Some(w_out)) = (
            &self.edge_from,
            &self.edge_to,
            &self.weight_in,
            &self.weight_out,
        ) else {
            return Ok(zeros);
        };
        let (src, dst, w) = if incoming {
            (from, to, w_in)
        } else {
            (to, from, w_out)
        };
        let messages = h.index_select(src, 0)?.broadcast_mul(w)?;
        zeros.index_add(dst, &messages, 0)
    }

    /// Per graph, the sum of `v`'s rows over its nodes (`[M, K]` to `[B, K]`).
    pub fn graph_sum(&self, v: &Tensor) -> Result<Tensor> {
        let zeros = Tensor::zeros((self.offsets.len(), v.dim(1)?), v.dtype(), v.device())?;
        zeros.index_add(&self.graph_of_node, v, 0)
    }
}
