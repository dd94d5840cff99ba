//! Optimization by a learned cost (`nnopt opt --cost learned:DEVICE`), checked on the
//! whole network.
//!
//! The e-graph extraction prices every op by the learned model as a one-operator network,
//! so its choice carries the model's error on each op. The model is most accurate on whole
//! networks (how it was trained), so the graph it extracts is checked there: it is kept
//! when the model, reading the whole network in its int8 form, predicts it at least
//! [`MIN_GAIN`] cheaper than the graph the default cost extracts, and it does not compute
//! more MACs than that graph; otherwise the default cost's graph is kept, since a smaller
//! predicted gain is within the model's error.

use crate::optimize_with_cost;
use crate::predict::quantized_form;
use nnopt_compiler::cost::DefaultCost;
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::{PassRecord, RunOptions};
use nnopt_compiler::Result;
use nnopt_costmodel::cost::LearnedCost;
use nnopt_costmodel::device::Device;
use nnopt_costmodel::predictor::Predictor;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// The smallest predicted gain of the learned extraction over the default one, as a share
/// of the default graph's cost, for which the learned extraction is kept.
pub const MIN_GAIN: f64 = 0.03;

/// Which graph was kept, and the whole-network predictions that decided it.
#[derive(Clone, Debug, Serialize)]
pub struct LearnedChoice {
    /// `learned` or `default`.
    pub kept: &'static str,
    /// The device's figure the costs are in (`vela:ethos-u55-256:cycles`, ...).
    pub figure: String,
    /// Predicted for the graph the learned cost extracted.
    pub learned: f64,
    /// Predicted for the graph the default cost extracted.
    pub default: f64,
}

impl LearnedChoice {
    /// The learned graph's predicted gain over the default one (a share of the default).
    pub fn gain(&self) -> f64 {
        1.0 - self.learned / self.default
    }
}

/// Optimizes `g` with `pipeline`, extracting by `predictor`'s cost on `device`, and keeps
/// that graph or the default cost's (see the module comment); the records are those of
/// the extraction by the learned cost (`opts` prints and verifies it), the default run
/// is quiet.
pub fn optimize_learned(
    g: &mut Graph,
    pipeline: Option<&Path>,
    opts: &RunOptions,
    predictor: Arc<Predictor>,
    device: &Device,
) -> Result<(Vec<PassRecord>, LearnedChoice)> {
    let cost = LearnedCost::new(predictor.clone(), device)?;
    let output = cost.output();
    let mut learned = g.clone();
    let records = optimize_with_cost(&mut learned, pipeline, opts, Arc::new(cost))?;
    let mut default = g.clone();
    let quiet = RunOptions {
        verify: opts.verify,
        ..RunOptions::default()
    };
    optimize_with_cost(&mut default, pipeline, &quiet, Arc::new(DefaultCost))?;
    let whole = |graph: &Graph| -> Result<f64> {
        let form = quantized_form(graph, "model")?;
        Ok(predictor.predict(&[&form.features])?[0].totals[output])
    };
    let choice = LearnedChoice {
        learned: whole(&learned)?,
        default: whole(&default)?,
        figure: device.cost_target(),
        kept: "default",
    };
    // Extraction prices trees: where an op's fused form looks cheaper than a separate
    // activation, it may compute a value that other ops also read a second time. A graph
    // with more MACs than the default's duplicates work and is not taken.
    let macs = |graph: &Graph| crate::summary::summarize(graph).macs;
    let duplicates = macs(&learned) > macs(&default);
    let choice = if choice.gain() >= MIN_GAIN && !duplicates {
        *g = learned;
        LearnedChoice {
            kept: "learned",
            ..choice
        }
    } else {
        *g = default;
        choice
    };
    Ok((records, choice))
}
