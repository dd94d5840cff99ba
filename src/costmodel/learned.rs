//! The learned predictor on dataset records: the figures it learns (targets, named
//! `SOURCE:CONFIG:FIGURE`), the held-out networks of each split, and training from a
//! dataset.

use super::baseline::vela_cycles_by_node;
use super::dataset::Record;
use super::eval::{fnv1a, in_test_split};
use nnopt_compiler::{Error, Result};
use nnopt_costmodel::encode::{Standardizer, NODE_FEATURES};
use nnopt_costmodel::predictor::{candle_error, ModelInfo, Predictor, MODEL_FORMAT};
use nnopt_costmodel::train::{train, EpochStats, Sample, TrainOptions};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The figures of Vela's summary that are learned, per configuration.
const VELA_FIGURES: &[&str] = &["cycles", "sram_bytes", "off_chip_bytes"];

/// The figures of nnopt's NPU estimate that are learned, per preset.
const NPU_FIGURES: &[&str] = &["cycles", "energy_uj", "arena_bytes"];

/// The NPU presets whose estimates are learned (the others are scaled versions).
const NPU_PRESETS: &[&str] = &["npu-256"];

/// A target's name split into source, configuration and figure.
pub fn parse_target(target: &str) -> Option<(&str, &str, &str)> {
    let mut parts = target.splitn(3, ':');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// The Vela configuration of a `vela:CONFIG:cycles` target.
pub fn vela_cycles_config(target: &str) -> Option<&str> {
    match parse_target(target)? {
        ("vela", config, "cycles") => Some(config),
        _ => None,
    }
}

/// The figure of `r` that `target` names, if `r` has it and it is positive.
pub fn label(r: &Record, target: &str) -> Option<f64> {
    let (source, config, figure) = parse_target(target)?;
    let value = match source {
        "vela" => {
            let v = r.vela.get(config)?;
            match figure {
                "cycles" => v.cycles,
                "sram_bytes" => v.sram_bytes,
                "off_chip_bytes" => v.off_chip_bytes,
                _ => return None,
            }
        }
        "npu" => {
            let n = r.npu.get(config)?;
            match figure {
                "cycles" => n.cycles as f64,
                "energy_uj" => n.energy_uj,
                "arena_bytes" => n.arena_bytes as f64,
                _ => return None,
            }
        }
        "litert" if figure == "latency_ms" => r.litert.as_ref()?.with_kernels(config)?.median_ms,
        _ => return None,
    };
    (value > 0.0 && value.is_finite()).then_some(value)
}

/// The targets that some of `records` have labels for, in a fixed order.
pub fn targets(records: &[Record]) -> Vec<String> {
    let vela: BTreeSet<&String> = records.iter().flat_map(|r| r.vela.keys()).collect();
    let mut out = Vec::new();
    for config in vela {
        out.extend(VELA_FIGURES.iter().map(|f| format!("vela:{config}:{f}")));
    }
    for preset in NPU_PRESETS {
        if records.iter().any(|r| r.npu.contains_key(*preset)) {
            out.extend(NPU_FIGURES.iter().map(|f| format!("npu:{preset}:{f}")));
        }
    }
    if records.iter().any(|r| r.litert.is_some()) {
        out.push("litert:builtin:latency_ms".into());
        out.push("litert:xnnpack:latency_ms".into());
    }
    out.retain(|t| records.iter().any(|r| label(r, t).is_some()));
    out
}

/// Vela's per-operator cycles of `r` for the cycle targets, as (node, target, log
/// cycles), for the operators Vela's table gives cycles to.
fn node_labels(r: &Record, targets: &[String]) -> Vec<(usize, usize, f32)> {
    let mut out = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        let Some(config) = vela_cycles_config(target) else {
            continue;
        };
        for (node, cycles) in vela_cycles_by_node(r, config).into_iter().enumerate() {
            if cycles > 0.0 {
                out.push((node, t, cycles.ln() as f32));
            }
        }
    }
    out
}

/// Which networks a model was not trained on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// The fixed test fifth of every search space ([`in_test_split`]).
    Random,
    /// Every network of this search space.
    Without(String),
}

impl Split {
    /// Whether `r` is held out (never trained on).
    pub fn holds_out(&self, r: &Record) -> bool {
        match self {
            Split::Random => in_test_split(&r.name),
            Split::Without(space) => &r.space == space,
        }
    }

    /// How eval tables name it.
    pub fn label(&self) -> String {
        match self {
            Split::Random => super::eval::RANDOM_SPLIT.to_string(),
            Split::Without(space) => format!("without {space}"),
        }
    }
}

/// Whether a training network goes to validation (a tenth of the networks, disjoint from
/// the random test split).
fn in_validation(name: &str) -> bool {
    fnv1a(name) % 10 == 1
}

/// What a model file records about its training.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainingInfo {
    pub split: Split,
    pub train_networks: usize,
    pub validation_networks: usize,
    pub options: serde_json::Value,
    pub best_validation_loss: f64,
    pub epochs_run: usize,
}

/// A predictor trained on the records `split` does not hold out (a tenth of them for
/// validation); `on_epoch` sees each epoch.
pub fn train_predictor(
    records: &[Record],
    split: &Split,
    opts: &TrainOptions,
    on_epoch: &mut dyn FnMut(&EpochStats),
) -> Result<Predictor> {
    let targets = targets(records);
    if targets.is_empty() {
        return Err(Error::new("the dataset has no labels to learn"));
    }
    let usable: Vec<&Record> = records
        .iter()
        .filter(|r| !split.holds_out(r) && !r.graph.nodes.is_empty())
        .collect();
    let (validation, training): (Vec<&Record>, Vec<&Record>) =
        usable.iter().partition(|r| in_validation(&r.name));
    if training.is_empty() {
        return Err(Error::new(format!(
            "no networks to train on with split '{}'",
            split.label()
        )));
    }
    let standardizer = Standardizer::fit(training.iter().map(|r| &r.graph));
    let samples = |set: &[&Record]| -> Vec<Sample> {
        set.iter()
            .map(|r| Sample {
                graph: standardizer.encode(&r.graph),
                labels: targets
                    .iter()
                    .map(|t| label(r, t).map(|v| v.ln() as f32))
                    .collect(),
                node_labels: node_labels(r, &targets),
            })
            .collect()
    };
    let (train_set, validation_set) = (samples(&training), samples(&validation));
    let (sage, history) =
        train(&targets, &train_set, &validation_set, opts, on_epoch).map_err(candle_error)?;
    let best = history
        .iter()
        .map(|e| e.validation_loss)
        .fold(f64::INFINITY, f64::min);
    let training_info = TrainingInfo {
        split: split.clone(),
        train_networks: training.len(),
        validation_networks: validation.len(),
        options: serde_json::to_value(opts).expect("options serialize"),
        best_validation_loss: best,
        epochs_run: history.len(),
    };
    let info = ModelInfo {
        format: MODEL_FORMAT,
        shape: sage.shape.clone(),
        node_features: NODE_FEATURES,
        standardizer,
        training: serde_json::to_value(training_info).expect("training info serializes"),
    };
    Ok(Predictor::new(info, sage))
}

/// The split a model was trained with (from its metadata).
pub fn split_of(p: &Predictor) -> Option<Split> {
    serde_json::from_value::<TrainingInfo>(p.info.training.clone())
        .ok()
        .map(|t| t.split)
}
