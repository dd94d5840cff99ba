//! Training programs (`.ntp`): loading and describing them (`nnopt inspect client.ntp`,
//! the summary of `nnopt compile --target train`).

use crate::binary;
use crate::message::layout_id;
use crate::{MasterWeights, Optimizer, TrainingProgram};
use nnopt_compiler::{Error, Result};
use nnopt_passes::TrainPrecision;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

pub use binary::EXTENSION;

/// Whether `path` names a training program.
pub fn is_ntp(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == EXTENSION)
}

/// Reads and verifies a training program; returns it and its size in bytes.
pub fn load(path: &Path) -> Result<(TrainingProgram, usize)> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
    let p = binary::read(&bytes).map_err(|e| e.in_file(path))?;
    Ok((p, bytes.len()))
}

/// What `inspect` reports about a training program.
#[derive(Clone, Debug, Serialize)]
pub struct Description {
    pub name: String,
    /// The `.ntp` format version this nnopt writes and reads.
    pub format: String,
    pub bytes: usize,
    pub precision: TrainPrecision,
    pub master_weights: MasterWeights,
    /// Delayed scaling of the FP8 quantizers.
    pub amax_history: usize,
    pub amax_margin: i32,
    pub optimizer: Optimizer,
    /// Samples per step.
    pub batch: usize,
    /// The forward graph's inputs (batch 1 or the model's own).
    pub inputs: Vec<TensorSummary>,
    pub params: Vec<TensorSummary>,
    pub param_values: usize,
    /// [`layout_id`] of the parameters, as FL messages carry it (hex).
    pub layout: String,
    pub steps: Vec<Step>,
}

/// A named tensor: its type and shape.
#[derive(Clone, Debug, Serialize)]
pub struct TensorSummary {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// One step graph.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub precision: TrainPrecision,
    pub nodes: usize,
    pub inputs: usize,
    pub outputs: usize,
    /// FP8 quantizers per role (`weight`, `activation`, `gradient`) and format.
    pub quant_points: BTreeMap<String, BTreeMap<&'static str, usize>>,
}

/// Describes a program whose file has `bytes` bytes.
pub fn describe(p: &TrainingProgram, bytes: usize) -> Description {
    let g = &p.forward;
    let inputs = g
        .inputs()
        .iter()
        .map(|&n| {
            let v = &g.node(n).outputs[0];
            TensorSummary {
                name: v.name.clone(),
                dtype: v.ty.dtype.to_string(),
                shape: v.ty.shape.clone(),
            }
        })
        .collect();
    let steps = p
        .steps
        .iter()
        .map(|s| {
            let mut quant_points: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
            for q in &s.quant_points {
                let role = serde_json::to_value(q.role)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                *quant_points
                    .entry(role)
                    .or_default()
                    .entry(q.format.name())
                    .or_default() += 1;
            }
            Step {
                precision: s.precision,
                nodes: s.graph.node_count(),
                inputs: s.graph.inputs().len(),
                outputs: s.graph.outputs().len(),
                quant_points,
            }
        })
        .collect();
    Description {
        name: g.name.clone(),
        format: format!("{}.{}", binary::FORMAT_MAJOR, binary::FORMAT_MINOR),
        bytes,
        precision: p.precision,
        master_weights: p.master_weights,
        amax_history: p.scaling.history,
        amax_margin: p.scaling.margin,
        optimizer: p.optimizer.clone(),
        batch: p.batch,
        inputs,
        params: p
            .params
            .iter()
            .map(|q| TensorSummary {
                name: q.name.clone(),
                dtype: "f32".into(),
                shape: q.shape.clone(),
            })
            .collect(),
        param_values: p
            .params
            .iter()
            .map(|q| q.shape.iter().product::<usize>())
            .sum(),
        layout: format!("{:08x}", layout_id(&p.params)),
        steps,
    }
}

/// `name dtype[shape]`.
fn tensor_text(t: &TensorSummary) -> String {
    format!("{} {}{:?}", t.name, t.dtype, t.shape)
}

/// The human-readable description.
pub fn render(d: &Description) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| writeln!(out, "{k:<14} {v}").expect("write to string");
    line(
        "program",
        format!(
            "{} (training program, format {}, {} bytes)",
            d.name, d.format, d.bytes
        ),
    );
    let master = match d.master_weights {
        MasterWeights::F32 => "f32",
        MasterWeights::Fp8 => "fp8 (e4m3)",
    };
    let scaling = match d.precision {
        TrainPrecision::Fp8 => format!(
            "; delayed scaling over {} steps, margin {}",
            d.amax_history, d.amax_margin
        ),
        TrainPrecision::Fp32 => String::new(),
    };
    line(
        "precision",
        format!("{}, master weights {master}{scaling}", d.precision.name()),
    );
    line("optimizer", d.optimizer.describe());
    line("batch", d.batch.to_string());
    line(
        "inputs",
        d.inputs
            .iter()
            .map(tensor_text)
            .collect::<Vec<_>>()
            .join(", "),
    );
    line(
        "parameters",
        format!(
            "{} tensors, {} values ({} bytes as f32), layout {}",
            d.params.len(),
            d.param_values,
            4 * d.param_values,
            d.layout
        ),
    );
    for p in &d.params {
        writeln!(out, "  {}", tensor_text(p)).expect("write to string");
    }
    writeln!(out, "steps").expect("write to string");
    for s in &d.steps {
        let quant: Vec<String> = s
            .quant_points
            .iter()
            .flat_map(|(role, formats)| {
                formats
                    .iter()
                    .map(move |(format, n)| format!("{n} {role} {format}"))
            })
            .collect();
        let quant = if quant.is_empty() {
            "no quantizers".to_string()
        } else {
            format!("quantizers: {}", quant.join(", "))
        };
        writeln!(
            out,
            "  {:<6} {} nodes, {} inputs, {} outputs; {quant}",
            s.precision.name(),
            s.nodes,
            s.inputs,
            s.outputs
        )
        .expect("write to string");
    }
    out
}
