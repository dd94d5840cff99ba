//! `nnopt compile --target npu`: optimize, quantize (float models: int8 by default, FP8
//! E4M3 with `--precision fp8`), lower, compress and serialize to an `.npub` binary, and
//! estimate its performance.

use crate::calibration::CalibrationArgs;
use nnopt_backends::npu::compress::BlockStats;
use nnopt_backends::npu::cost::NpuCost;
use nnopt_backends::npu::perf::{CommandWork, Estimate};
use nnopt_backends::npu::target::Target;
use nnopt_backends::npu::{self, LowerOptions, LoweringReport, Program};
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::RunOptions;
use nnopt_compiler::{Error, Result};
use nnopt_passes::quantize_fp8::{quantize_fp8, Fp8Options, Fp8Report};
use nnopt_passes::quantize_int8::{is_quantized, QuantReport};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The arithmetic a float model is compiled to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// int8 post-training quantization (TFLite arithmetic).
    #[default]
    Int8,
    /// FP8 E4M3 weights and layer inputs, f32 between layers.
    Fp8,
}

/// Options of an NPU compilation.
#[derive(Clone, Debug)]
pub struct NpuOptions {
    pub target: Target,
    /// How float models are quantized; an already int8 model cannot be compiled to FP8.
    pub precision: Precision,
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
    /// The optimized, quantized IR that was lowered (the virtual NPU runs the program
    /// bit-exactly with the interpreter on it).
    pub graph: Graph,
    pub program: Program,
    /// The `.npub` file.
    pub binary: Vec<u8>,
    pub precision: Precision,
    /// What int8 quantization did (`already_quantized` for int8 models; the default,
    /// empty report with FP8 precision).
    pub quantization: QuantReport,
    /// What FP8 quantization did (FP8 precision only).
    pub fp8: Option<Fp8Report>,
    pub lowering: LoweringReport,
    pub weights: Vec<BlockStats>,
    /// What each command does, independent of the target (the estimate's input).
    pub work: Vec<CommandWork>,
    pub estimate: Estimate,
    /// The target it was compiled for.
    pub target: Target,
    /// Wall time of optimization, quantization and the NPU stages (ms).
    pub compile_ms: f64,
}

/// Summary numbers of a compilation, as `--json` prints them.
#[derive(Clone, Debug, Serialize)]
pub struct CompileSummary<'a> {
    pub target: &'a str,
    pub precision: Precision,
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
    /// Weight element type (`i8`, `f8e4m3`).
    pub weight_type: &'a str,
    pub raw_bytes: usize,
    pub encoded_bytes: usize,
    pub ratio: f64,
}

impl Compiled {
    /// Warnings of the quantizer (e.g. synthetic calibration).
    pub fn warnings(&self) -> Vec<&str> {
        let fp8 = self.fp8.iter().flat_map(|r| &r.warnings);
        self.quantization
            .warnings
            .iter()
            .chain(fp8)
            .map(String::as_str)
            .collect()
    }

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
            precision: self.precision,
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
                    weight_type: w.weight_type,
                    raw_bytes: w.raw_bytes,
                    encoded_bytes: w.encoded_bytes,
                    ratio: w.encoded_bytes as f64 / w.raw_bytes.max(1) as f64,
                })
                .collect(),
        }
    }
}

/// Compiles a graph for the NPU: the optimization pipeline (its e-graph optimizer
/// extracting by the target's performance model) and int8 or FP8 (E4M3) post-training
/// quantization of float models, then the NPU backend's stages
/// ([`nnopt_backends::npu::compile`]). FP8 precision needs a float model: an int8 model
/// is an error.
pub fn compile_npu(mut g: Graph, opts: &NpuOptions) -> Result<Compiled> {
    let start = Instant::now();
    if opts.precision == Precision::Fp8 && is_quantized(&g) {
        return Err(Error::new(
            "--precision fp8 needs a float model, but this model is already int8-quantized \
             (compile it with --precision int8)",
        ));
    }
    let cost = Arc::new(NpuCost::new(opts.target.clone()));
    crate::optimize_with_cost(
        &mut g,
        opts.pipeline.as_deref(),
        &RunOptions::default(),
        cost,
    )?;
    let (quantization, fp8) = match opts.precision {
        Precision::Int8 => (
            crate::calibration::quantize(&mut g, &opts.calibration)?,
            None,
        ),
        Precision::Fp8 => {
            let c = &opts.calibration;
            let calib = crate::calibration::load_calibration(&g, &c.data)?;
            let fp8_opts = Fp8Options {
                format: Fp8Format::E4M3,
                method: c.data.calibration_method,
                percentile: c.data.percentile,
                per_channel: !c.per_tensor_weights,
                ..Fp8Options::default()
            };
            let report = quantize_fp8(&mut g, &calib, &fp8_opts)?;
            (QuantReport::default(), Some(report))
        }
    };
    let npu::Compilation {
        program,
        binary,
        lowering,
        weights,
        work,
        estimate,
    } = npu::compile(
        &g,
        &opts.target,
        &LowerOptions {
            cpu_fallback: opts.cpu_fallback,
        },
    )?;
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;
    Ok(Compiled {
        graph: g,
        program,
        binary,
        precision: opts.precision,
        quantization,
        fp8,
        lowering,
        weights,
        work,
        estimate,
        target: opts.target.clone(),
        compile_ms,
    })
}
