//! The `noise-analysis` pass: information bounds of a binary network whose neurons flip
//! with probability ε (see [`crate::noise_bounds`]). An analysis: the graph is left
//! unchanged and the figures are the pass's statistics.
//!
//! The noisy neurons are the outputs of binarize activations on computed values
//! (binarized weights are constants and stay exact); each such node is one layer, its
//! width the values per sample (all but the batch axis). The bounds hold for layered
//! networks, so each layer must be a cut: every path from the inputs to the outputs
//! crosses it (no skip connections around it), else the pass refuses the graph.

use crate::noise_bounds::{
    bsc_contraction, evans_schulman_sum, fano_information, min_width, percolation_bound,
    percolation_factor,
};
use nnopt_compiler::interp::is_noisy_neuron;
use nnopt_compiler::ir::{Graph, NodeIndex, ValueRef};
use nnopt_compiler::pass::{Pass, PassStats};
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt::Write;
use std::sync::Mutex;

/// What the `noise-analysis` pass assumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseOptions {
    /// Probability that a binary neuron's output flips, in [0, 0.5].
    pub flip_prob: f64,
    /// Classes M of the task (default: the output's values per sample).
    pub classes: Option<u64>,
    /// Error probability δ that the minimum width is computed for.
    pub target_error: f64,
}

impl Default for NoiseOptions {
    fn default() -> Self {
        NoiseOptions {
            flip_prob: 0.0,
            classes: None,
            target_error: 0.1,
        }
    }
}

impl NoiseOptions {
    /// Checks the ranges: ε in [0, 0.5], δ in [0, 1), at least 2 classes.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=0.5).contains(&self.flip_prob) {
            return Err(Error::new(format!(
                "the flip probability must be in [0, 0.5], got {}",
                self.flip_prob
            )));
        }
        if !(0.0..1.0).contains(&self.target_error) {
            return Err(Error::new(format!(
                "the target error must be in [0, 1), got {}",
                self.target_error
            )));
        }
        if self.classes.is_some_and(|m| m < 2) {
            return Err(Error::new("a task has at least 2 classes"));
        }
        Ok(())
    }
}

/// One noisy layer's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoisyLayer {
    /// The binarizing node.
    pub node: String,
    /// Binary neurons per sample.
    pub width: u64,
    /// 1 − (1 − η)^width.
    pub percolation_factor: f64,
    /// The percolation bound of the layers up to this one.
    pub percolation_bound: f64,
    /// The Evans–Schulman path sum of the layers up to this one.
    pub evans_schulman: f64,
}

/// The analysis of a whole network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoiseReport {
    pub flip_prob: f64,
    /// η = (1 − 2ε)².
    pub eta: f64,
    pub classes: u64,
    pub target_error: f64,
    pub layers: Vec<NoisyLayer>,
    /// ∏ over layers of the percolation factors: I(label; output) ≤ this · H(label).
    pub percolation_bound: f64,
    /// The Evans–Schulman path sum: I(label; output) ≤ this · H(label).
    pub evans_schulman: f64,
    /// Bits Fano requires for `classes` classes at error `target_error`.
    pub required_bits: f64,
    /// The percolation bound times log₂ M: the most a decision can use.
    pub available_bits: f64,
    /// The smallest width of as many equal noisy layers that allows the target error
    /// (`None`: no width does).
    pub min_width: Option<u64>,
}

impl NoiseReport {
    /// Human-readable lines.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "flip probability {} (eta = {:.4}), {} classes, target error {}\n",
            self.flip_prob, self.eta, self.classes, self.target_error
        );
        for (k, l) in self.layers.iter().enumerate() {
            let _ = writeln!(
                s,
                "layer {} '{}': width {}, percolation factor {:.6}, bound so far {:.6}, evans-schulman {:.4e}",
                k + 1,
                l.node,
                l.width,
                l.percolation_factor,
                l.percolation_bound,
                l.evans_schulman
            );
        }
        let width = self
            .min_width
            .map_or_else(|| "none suffices".to_string(), |n| n.to_string());
        let _ = writeln!(
            s,
            "bounds: percolation {:.6}, evans-schulman {:.4e}; needs {:.4} bits, at most {:.4} get through; minimum width for {} layers: {width}",
            self.percolation_bound,
            self.evans_schulman,
            self.required_bits,
            self.available_bits,
            self.layers.len()
        );
        s
    }
}

/// The noisy layers of `g` as (node, width), in topological order; an error when there
/// are none or when one is not a cut between the inputs and the outputs.
pub fn noisy_layers(g: &Graph) -> Result<Vec<(NodeIndex, u64)>> {
    let order = g
        .topo_order()
        .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
    let layers: Vec<(NodeIndex, u64)> = order
        .into_iter()
        .filter(|&n| is_noisy_neuron(g, n))
        .map(|n| {
            let shape = &g.node(n).outputs[0].ty.shape;
            let width = shape.iter().skip(1).product::<usize>().max(1);
            (n, width as u64)
        })
        .collect();
    if layers.is_empty() {
        return Err(Error::new(
            "the model has no binary neurons (binarize activations on computed values)",
        ));
    }
    for &(n, _) in &layers {
        if reaches_output_around(g, n) {
            return Err(Error::at_node(
                &g.node(n).name,
                "a path from the inputs to the outputs bypasses this binary layer; the bounds need layered networks",
            ));
        }
    }
    Ok(layers)
}

/// Whether an output is reachable from an input without passing through `cut`.
fn reaches_output_around(g: &Graph, cut: NodeIndex) -> bool {
    let outputs: HashSet<NodeIndex> = g.outputs().iter().map(|v| v.node).collect();
    let mut seen: HashSet<NodeIndex> = HashSet::new();
    let mut stack: Vec<NodeIndex> = g.inputs().to_vec();
    while let Some(n) = stack.pop() {
        if n == cut || !seen.insert(n) {
            continue;
        }
        if outputs.contains(&n) {
            return true;
        }
        for k in 0..g.node(n).outputs.len() {
            let v = ValueRef { node: n, output: k };
            stack.extend(g.consumers(v).iter().map(|&(c, _)| c));
        }
    }
    false
}

/// The bounds of `g` under `opts`.
pub fn analyze(g: &Graph, opts: &NoiseOptions) -> Result<NoiseReport> {
    opts.validate()?;
    let layers = noisy_layers(g)?;
    let classes = match opts.classes {
        Some(m) => m,
        None => {
            let out = g
                .outputs()
                .first()
                .ok_or_else(|| Error::new("the model has no outputs"))?;
            let m = g.ty(*out).shape.iter().skip(1).product::<usize>() as u64;
            if m < 2 {
                return Err(Error::new(
                    "the output has fewer than 2 values per sample; give the number of classes",
                ));
            }
            m
        }
    };
    let eta = bsc_contraction(opts.flip_prob);
    let widths: Vec<u64> = layers.iter().map(|&(_, w)| w).collect();
    let per_layer = layers
        .iter()
        .enumerate()
        .map(|(k, &(n, width))| NoisyLayer {
            node: g.node(n).name.clone(),
            width,
            percolation_factor: percolation_factor(eta, width),
            percolation_bound: percolation_bound(eta, &widths[..=k]),
            evans_schulman: evans_schulman_sum(eta, &widths[..=k]),
        })
        .collect();
    let bound = percolation_bound(eta, &widths);
    Ok(NoiseReport {
        flip_prob: opts.flip_prob,
        eta,
        classes,
        target_error: opts.target_error,
        layers: per_layer,
        percolation_bound: bound,
        evans_schulman: evans_schulman_sum(eta, &widths),
        required_bits: fano_information(classes, opts.target_error),
        available_bits: bound * (classes as f64).log2(),
        min_width: min_width(eta, widths.len() as u32, classes, opts.target_error),
    })
}

/// The `noise-analysis` pass: [`analyze`] as a pass that keeps the graph.
pub struct NoiseAnalysis {
    pub options: NoiseOptions,
    last: Mutex<Option<NoiseReport>>,
}

impl NoiseAnalysis {
    pub const NAME: &'static str = "noise-analysis";

    /// The pass with `options`.
    pub fn new(options: NoiseOptions) -> Result<Self> {
        options.validate()?;
        Ok(NoiseAnalysis {
            options,
            last: Mutex::new(None),
        })
    }

    /// Builds the pass from pipeline options: `flip_prob`, `classes`, `target_error`.
    pub fn from_options(options: &serde_yaml_ng::Value) -> Result<Self> {
        Self::new(crate::options::parse(options)?)
    }

    /// The report of the most recent run.
    pub fn last_report(&self) -> Option<NoiseReport> {
        self.last.lock().ok()?.clone()
    }
}

impl Pass for NoiseAnalysis {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let report = analyze(g, &self.options)?;
        if let Ok(mut last) = self.last.lock() {
            *last = Some(report);
        }
        Ok(false)
    }

    fn stats(&self) -> Option<PassStats> {
        let r = self.last_report()?;
        Some(PassStats {
            text: r.to_text(),
            json: serde_json::to_value(&r).ok()?,
        })
    }
}
