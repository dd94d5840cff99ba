//! `nnopt compile --target npu`: optimize, quantize (float models), lower, compress and
//! serialize to an `.npub` binary, and estimate its performance.

use crate::calibration::CalibrationArgs;
use nnopt_backends::npu::binary::{self, BlockStats};
use nnopt_backends::npu::cost::NpuCost;
use nnopt_backends::npu::perf::{estimate, Estimate};
use nnopt_backends::npu::target::Target;
use nnopt_backends::npu::{lower, LowerOptions, LoweringReport, Program};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::RunOptions;
use nnopt_compiler::Result;
use nnopt_passes::quantize_int8::QuantReport;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Options of an NPU compilation.
#[derive(Clone, Debug)]
pub struct NpuOptions {
    pub target: Target,
    /// Run unsupported ops on the CPU (otherwise they are errors).
    pub cpu_fallback: bool,
    /// How float models are quantized to int8 (quantized models keep their parameters).
    pub calibration: CalibrationArgs,
    /// The optimization pipeline (YAML file); the default pipeline when `None`.
    pub pipeline: Option<PathBuf>,
}

/// Everything a compilation produced.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub program: Program,
    /// The `.npub` file.
    pub binary: Vec<u8>,
    /// What int8 quantization did (`already_quantized` for int8 models).
    pub quantization: QuantReport,
    pub lowering: LoweringReport,
    pub weights: Vec<BlockStats>,
    pub estimate: Estimate,
    /// Wall time of optimization, lowering and serialization (ms).
    pub compile_ms: f64,
}

/// Summary numbers of a compilation, as `--json` prints them.
#[derive(Clone, Debug, Serialize)]
pub struct CompileSummary<'a> {
    pub target: &'a str,
    pub binary_bytes: usize,
    pub weight_raw_bytes: usize,
    pub weight_encoded_bytes: usize,
    pub arena_bytes: usize,
    pub naive_activation_bytes: usize,
    pub npu_cycles: u64,
    pub cpu_cycles: u64,
    pub npu_time_ms: f64,
    pub energy_uj: f64,
    pub macs: u64,
    pub compile_ms: f64,
    pub fallbacks: &'a [nnopt_backends::npu::Fallback],
    pub layers: &'a [nnopt_backends::npu::perf::CommandCost],
    pub weight_blocks: Vec<WeightBlockSummary<'a>>,
}

/// One weight block's compression figures.
#[derive(Clone, Debug, Serialize)]
pub struct WeightBlockSummary<'a> {
    pub layer: &'a str,
    pub raw_bytes: usize,
    pub encoded_bytes: usize,
    pub ratio: f64,
}

impl Compiled {
    /// Total raw and encoded weight bytes.
    pub fn weight_totals(&self) -> (usize, usize) {
        let raw = self.weights.iter().map(|w| w.raw_bytes).sum();
        let enc = self.weights.iter().map(|w| w.encoded_bytes).sum();
        (raw, enc)
    }

    /// The `--json` summary.
    pub fn summary(&self) -> CompileSummary<'_> {
        let (raw, enc) = self.weight_totals();
        CompileSummary {
            target: &self.estimate.target,
            binary_bytes: self.binary.len(),
            weight_raw_bytes: raw,
            weight_encoded_bytes: enc,
            arena_bytes: self.lowering.arena_bytes,
            naive_activation_bytes: self.lowering.naive_bytes,
            npu_cycles: self.estimate.npu_cycles,
            cpu_cycles: self.estimate.cpu_cycles,
            npu_time_ms: self.estimate.npu_time_ms,
            energy_uj: self.estimate.energy_uj,
            macs: self.estimate.macs,
            compile_ms: self.compile_ms,
            fallbacks: &self.lowering.fallbacks,
            layers: &self.estimate.commands,
            weight_blocks: self
                .weights
                .iter()
                .map(|w| WeightBlockSummary {
                    layer: &w.layer,
                    raw_bytes: w.raw_bytes,
                    encoded_bytes: w.encoded_bytes,
                    ratio: w.encoded_bytes as f64 / w.raw_bytes.max(1) as f64,
                })
                .collect(),
        }
    }
}

/// Compiles a graph for the NPU: the optimization pipeline (its e-graph optimizer
/// extracting by the target's performance model), int8 post-training
/// quantization of float models, lowering, weight compression, serialization and the
/// performance estimate.
pub fn compile_npu(mut g: Graph, opts: &NpuOptions) -> Result<Compiled> {
    let start = Instant::now();
    let cost = Arc::new(NpuCost::new(opts.target.clone()));
    crate::optimize_with_cost(
        &mut g,
        opts.pipeline.as_deref(),
        &RunOptions::default(),
        cost,
    )?;
    let quantization = crate::calibration::quantize(&mut g, &opts.calibration)?;
    let (program, lowering) = lower(
        &g,
        &LowerOptions {
            cpu_fallback: opts.cpu_fallback,
        },
    )?;
    let (binary, weights) = binary::write(&program, &opts.target)?;
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;
    let encoded: Vec<u64> = weights.iter().map(|w| w.encoded_bytes as u64).collect();
    let estimate = estimate(&program, &opts.target, &encoded)?;
    Ok(Compiled {
        program,
        binary,
        quantization,
        lowering,
        weights,
        estimate,
        compile_ms,
    })
}
