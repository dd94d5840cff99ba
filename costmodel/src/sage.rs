//! The predictor: GraphSAGE with mean aggregation (PerfSAGE's model) over a network's
//! operators, with one output per target in log space.
//!
//! Each layer maps `self ‖ mean(predecessors) ‖ mean(successors)` through a dense layer
//! and ReLU, then L2-normalizes each node's embedding. A node head (a hidden
//! layer and an output layer) reads the last embedding beside the node's own features and gives each operator's share of every
//! target (its per-layer figure, in log space); the network's figure is the log of the sum
//! of the shares (for peak figures such as SRAM, a soft maximum with a learned
//! temperature), plus a correction
//! read from the mean embedding and the node count. So per-layer cycles always add up to
//! the network's.

use crate::batch::Batch;
use crate::encode::NODE_FEATURES;
use candle_core::{DType, Device, Result, Tensor, Var, D};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether a target is a peak over the network (memory: the figure of the largest
/// operator) rather than a sum over its operators.
pub fn is_peak(target: &str) -> bool {
    target.ends_with("sram_bytes") || target.ends_with("arena_bytes")
}

/// The shape of the predictor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SageShape {
    /// GraphSAGE layers.
    pub layers: usize,
    /// Units per layer.
    pub hidden: usize,
    /// What the outputs predict (e.g. `vela:ethos-u55-256:cycles`).
    pub targets: Vec<String>,
    #[serde(default)]
    pub architecture: Architecture,
}

/// The model family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// GraphSAGE with per-operator shares (this module's model).
    #[default]
    Sage,
    /// The baseline after BRP-NAS's predictor: graph convolutions (one weight for a node
    /// and its neighbours, averaged), mean pooling and a dense layer per network; no
    /// per-operator figures (each operator gets an equal share).
    Gcn,
}

impl Architecture {
    /// How evaluation tables name it.
    pub fn label(self) -> &'static str {
        match self {
            Architecture::Sage => "GraphSAGE",
            Architecture::Gcn => "GCN (BRP-NAS-style)",
        }
    }
}

/// The predictor's weights by name (`layer0.weight`, ..., `node_hidden.weight`, `node_head.bias`,
/// `graph_head.weight`, `graph_head.bias`).
pub struct Sage {
    pub shape: SageShape,
    pub params: BTreeMap<String, Var>,
}

/// Outputs for a batch, in log space.
pub struct Prediction {
    /// `[M, T]`: each node's share of each target (the batch's nodes, stacked).
    pub nodes: Tensor,
    /// `[B, T]`: each graph's figure.
    pub graphs: Tensor,
}

impl Sage {
    /// Fresh weights (Glorot-uniform, zero biases) from `seed`; the node head's biases start
    /// at `target_bias` so that first predictions are of the right size.
    pub fn new(shape: SageShape, target_bias: &[f32], seed: u64) -> Result<Sage> {
        let device = Device::Cpu;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut params = BTreeMap::new();
        let mut dense = |name: &str, fan_in: usize, fan_out: usize, bias: Vec<f32>| {
            let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
            let w: Vec<f32> = (0..fan_in * fan_out)
                .map(|_| rng.random_range(-limit..limit))
                .collect();
            let weight = Var::from_tensor(&Tensor::from_vec(w, (fan_in, fan_out), &device)?)?;
            let bias = Var::from_tensor(&Tensor::from_vec(bias, fan_out, &device)?)?;
            params.insert(format!("{name}.weight"), weight);
            params.insert(format!("{name}.bias"), bias);
            Ok::<(), candle_core::Error>(())
        };
        let targets = shape.targets.len();
        let fan = match shape.architecture {
            Architecture::Sage => 3,
            Architecture::Gcn => 1,
        };
        let mut width = NODE_FEATURES;
        for k in 0..shape.layers {
            dense(
                &format!("layer{k}"),
                fan * width,
                shape.hidden,
                vec![0.0; shape.hidden],
            )?;
            width = shape.hidden;
        }
        if shape.architecture == Architecture::Gcn {
            dense("graph_head", width + 1, targets, target_bias.to_vec())?;
            return Ok(Sage { shape, params });
        }
        dense(
            "node_hidden",
            width + NODE_FEATURES,
            shape.hidden,
            vec![0.0; shape.hidden],
        )?;
        dense("node_head", shape.hidden, targets, target_bias.to_vec())?;
        dense("graph_head", width + 1, targets, vec![0.0; targets])?;
        let log_temperature: Vec<f32> = shape
            .targets
            .iter()
            .map(|t| if is_peak(t) { 0.25f32.ln() } else { 0.0 })
            .collect();
        params.insert(
            "readout.log_temperature".into(),
            Var::from_tensor(&Tensor::from_vec(log_temperature, targets, &device)?)?,
        );
        Ok(Sage { shape, params })
    }

    /// The weights as trainable variables, in name order.
    pub fn vars(&self) -> Vec<Var> {
        self.params.values().cloned().collect()
    }

    fn param(&self, name: &str) -> Result<&Tensor> {
        self.params
            .get(name)
            .map(|v| v.as_tensor())
            .ok_or_else(|| candle_core::Error::Msg(format!("the model lacks '{name}'")))
    }

    fn dense(&self, name: &str, x: &Tensor) -> Result<Tensor> {
        x.broadcast_matmul(self.param(&format!("{name}.weight"))?)?
            .broadcast_add(self.param(&format!("{name}.bias"))?)
    }

    /// The predictions for `batch`.
    pub fn forward(&self, batch: &Batch) -> Result<Prediction> {
        if self.shape.architecture == Architecture::Gcn {
            return self.forward_gcn(batch);
        }
        let mut h = batch.x.clone();
        for k in 0..self.shape.layers {
            let from_in = batch.neighbour_mean(&h, true)?;
            let from_out = batch.neighbour_mean(&h, false)?;
            let z = Tensor::cat(&[&h, &from_in, &from_out], D::Minus1)?;
            let z = self.dense(&format!("layer{k}"), &z)?.relu()?;
            let norm = (z.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
            h = z.broadcast_div(&norm)?;
        }
        let read = Tensor::cat(&[&h, &batch.x], D::Minus1)?;
        let nodes = self.dense("node_head", &self.dense("node_hidden", &read)?.relu()?)?;
        // Per graph and target, tau * log(sum(exp(share / tau))): the log of the sum of the
        // shares for tau = 1 (cycles, energy, latency), a soft maximum for the small
        // learned tau of peak figures (memory). Shifted by the batch's largest value.
        let peak: Vec<f32> = self
            .shape
            .targets
            .iter()
            .map(|t| f32::from(u8::from(is_peak(t))))
            .collect();
        let peak = Tensor::from_vec(peak, (1, self.shape.targets.len()), nodes.device())?;
        let tau = self
            .param("readout.log_temperature")?
            .unsqueeze(0)?
            .mul(&peak)?
            .exp()?;
        let scaled = nodes.broadcast_div(&tau)?;
        let shift = scaled.max_keepdim(0)?.detach();
        let sums = batch.graph_sum(&scaled.broadcast_sub(&shift)?.exp()?)?;
        let shares = sums.log()?.broadcast_add(&shift)?.broadcast_mul(&tau)?;
        let mean = batch.graph_sum(&h)?.broadcast_mul(&batch.inverse_nodes)?;
        let context = Tensor::cat(&[&mean, &batch.log_nodes], D::Minus1)?;
        let correction = self.dense("graph_head", &context)?;
        Ok(Prediction {
            nodes: (nodes + correction.index_select(&batch.graph_of_node, 0)?)?,
            graphs: (shares + correction)?,
        })
    }

    /// The GCN baseline: per network, log(node count) plus a dense layer on the mean
    /// embedding (the per-operator cost times the operator count); equal shares per node.
    fn forward_gcn(&self, batch: &Batch) -> Result<Prediction> {
        let mut h = batch.x.clone();
        for k in 0..self.shape.layers {
            let from_in = batch.neighbour_mean(&h, true)?;
            let from_out = batch.neighbour_mean(&h, false)?;
            let z = ((&h + from_in)? + from_out)?.affine(1.0 / 3.0, 0.0)?;
            h = self.dense(&format!("layer{k}"), &z)?.relu()?;
        }
        let mean = batch.graph_sum(&h)?.broadcast_mul(&batch.inverse_nodes)?;
        let context = Tensor::cat(&[&mean, &batch.log_nodes], D::Minus1)?;
        let per_node = self.dense("graph_head", &context)?;
        let graphs = per_node.broadcast_add(&batch.log_nodes)?;
        Ok(Prediction {
            nodes: per_node.index_select(&batch.graph_of_node, 0)?,
            graphs,
        })
    }

    /// Weights and their names, for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// The predictor with `shape` and these weights; checks every expected weight is there
    /// with the expected size.
    pub fn from_tensors(shape: SageShape, mut tensors: BTreeMap<String, Tensor>) -> Result<Sage> {
        let fresh = Sage::new(shape.clone(), &vec![0.0; shape.targets.len()], 0)?;
        let mut params = BTreeMap::new();
        for (name, like) in &fresh.params {
            let t = tensors
                .remove(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("the model lacks '{name}'")))?;
            if t.dims() != like.dims() {
                return Err(candle_core::Error::Msg(format!(
                    "'{name}' has shape {:?}, expected {:?}",
                    t.dims(),
                    like.dims()
                )));
            }
            params.insert(name.clone(), Var::from_tensor(&t.to_dtype(DType::F32)?)?);
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(candle_core::Error::Msg(format!(
                "the model has an unexpected weight '{extra}'"
            )));
        }
        Ok(Sage { shape, params })
    }
}
