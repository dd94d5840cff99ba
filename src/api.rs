//! The one-call library API behind the `nnopt` command: compile, run, quantize, export
//! and inspect a model.

use crate::compile::{compile_npu, Compiled, NpuOptions};
use crate::quantize::{quantize_graph, QuantizeRequest, QuantizeSummary};
use crate::summary::{summarize, ModelSummary};
use crate::{batch, load_model, npub, Result, IR_EXTENSION};
use nnopt_backends::npu::binary::TargetInfo;
use nnopt_backends::npu::Program;
use nnopt_compiler::ir::text::{print_graph, PrintOptions};
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_train::ntp;
use std::path::Path;

/// Compiles a graph for an NPU (see [`compile_npu`]): optimization, int8 or FP8
/// quantization of float models, lowering, weight compression and the performance
/// estimate; [`Compiled::binary`] holds the `.npub` file.
///
/// ```
/// use nnopt::compile::NpuOptions;
/// use nnopt::backends::npu::target::Target;
/// let g = nnopt::compiler::ir::text::parse_graph(
///     "graph \"g\"(%x) {\n  %x: f32[1,2,2,3] = input\n  %y: f32[1,2,2,3] = activation {\"act\":\"relu\"}(%x)\n  return %y\n}\n",
/// )?;
/// let opts = NpuOptions {
///     target: Target::preset("npu")?,
///     precision: Default::default(),
///     cpu_fallback: true,
///     calibration: Default::default(),
///     pipeline: None,
/// };
/// let compiled = nnopt::compile(g, &opts)?;
/// assert!(!compiled.binary.is_empty());
/// # Ok::<(), nnopt::Error>(())
/// ```
pub fn compile(g: Graph, opts: &NpuOptions) -> Result<Compiled> {
    compile_npu(g, opts)
}

/// Runs a graph on input tensors in the reference interpreter and returns its outputs;
/// inputs holding `k` times the model's batch run `k` times and the outputs are stacked.
///
/// ```
/// use nnopt::compiler::ir::Tensor;
/// let g = nnopt::compiler::ir::text::parse_graph(
///     "graph \"g\"(%x) {\n  %x: f32[1,2,2,3] = input\n  %y: f32[1,2,2,3] = activation {\"act\":\"relu\"}(%x)\n  return %y\n}\n",
/// )?;
/// let x = Tensor::F32(ndarray::ArrayD::from_elem(vec![1, 2, 2, 3], -1.0));
/// let outputs = nnopt::run(&g, &[x])?;
/// assert!(outputs[0].to_f64_vec().iter().all(|&v| v == 0.0));
/// # Ok::<(), nnopt::Error>(())
/// ```
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    batch::run_batched(g, inputs)
}

/// Quantizes a float graph to FP8 (E4M3, E5M2) or int8 as `req` says, calibrating on its
/// data (random inputs, with a warning, when none is named).
///
/// ```
/// use nnopt::quantize::{QuantFormat, QuantizeRequest};
/// let mut g = nnopt::compiler::ir::text::parse_graph(
///     "graph \"g\"(%x) {\n  %x: f32[1,2,2,3] = input\n  %y: f32[1,2,2,3] = activation {\"act\":\"relu\"}(%x)\n  return %y\n}\n",
/// )?;
/// let req = QuantizeRequest {
///     format: QuantFormat::Int8,
///     per_channel: true,
///     weights_only: false,
///     data: Default::default(),
/// };
/// let summary = nnopt::quantize(&mut g, &req)?;
/// assert!(summary.synthetic_calibration);
/// # Ok::<(), nnopt::Error>(())
/// ```
pub fn quantize(g: &mut Graph, req: &QuantizeRequest) -> Result<QuantizeSummary> {
    quantize_graph(g, req)
}

/// A model file format nnopt writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    /// ONNX (`.onnx`).
    Onnx,
    /// TFLite (`.tflite`): int8 for quantized graphs, float otherwise, NHWC.
    Tflite,
    /// nnopt IR text (`.nnir`).
    Ir,
}

impl ModelFormat {
    /// The format a file name's extension names, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "onnx" => Some(ModelFormat::Onnx),
            "tflite" => Some(ModelFormat::Tflite),
            IR_EXTENSION => Some(ModelFormat::Ir),
            _ => None,
        }
    }
}

/// Serializes a graph as a model file of `format` (pick it by extension with
/// [`ModelFormat::from_path`]).
///
/// ```no_run
/// use nnopt::ModelFormat;
/// use std::path::Path;
/// let g = nnopt::load_model(Path::new("model.onnx"))?;
/// let out = Path::new("model.tflite");
/// let format = ModelFormat::from_path(out).expect("a known extension");
/// std::fs::write(out, nnopt::export(&g, format)?).expect("writable");
/// # Ok::<(), nnopt::Error>(())
/// ```
pub fn export(g: &Graph, format: ModelFormat) -> Result<Vec<u8>> {
    match format {
        ModelFormat::Onnx => nnopt_formats::onnx::export_onnx(g),
        ModelFormat::Tflite => nnopt_formats::tflite::export_tflite(g),
        ModelFormat::Ir => Ok(print_graph(g, &PrintOptions::default()).into_bytes()),
    }
}

/// What [`inspect`] found in a file.
#[derive(Debug)]
pub enum Inspection {
    /// A model (ONNX, TFLite or IR text).
    Model(ModelSummary),
    /// An NPU binary (`.npub`) of `bytes` bytes.
    Npub {
        program: Program,
        target: TargetInfo,
        bytes: usize,
    },
    /// A training program (`.ntp`).
    Ntp(ntp::Description),
}

impl Inspection {
    /// The description as pretty-printed JSON, for tools.
    pub fn to_json(&self) -> String {
        let json = match self {
            Inspection::Model(s) => serde_json::to_string_pretty(s),
            Inspection::Npub {
                program,
                target,
                bytes,
            } => serde_json::to_string_pretty(&npub::describe(program, target, *bytes)),
            Inspection::Ntp(d) => serde_json::to_string_pretty(d),
        };
        json.expect("descriptions serialize")
    }

    /// The description as a human-readable table.
    pub fn render(&self) -> String {
        match self {
            Inspection::Model(s) => crate::summary::render(s),
            Inspection::Npub {
                program,
                target,
                bytes,
            } => npub::render(&npub::describe(program, target, *bytes)),
            Inspection::Ntp(d) => ntp::render(d),
        }
    }
}

/// Describes a file: a training program (`.ntp`: format, parameters, precision plan,
/// hyper-parameters, step graphs), an NPU binary (`.npub`), or a model (inputs, outputs,
/// op histogram, parameters, MACs, tensor memory).
///
/// ```no_run
/// let inspection = nnopt::inspect(std::path::Path::new("model.tflite"))?;
/// print!("{}", inspection.render());
/// # Ok::<(), nnopt::Error>(())
/// ```
pub fn inspect(path: &Path) -> Result<Inspection> {
    if ntp::is_ntp(path) {
        let (program, bytes) = ntp::load(path)?;
        return Ok(Inspection::Ntp(ntp::describe(&program, bytes)));
    }
    if npub::is_npub(path) {
        let (program, target, bytes) = npub::load(path)?;
        return Ok(Inspection::Npub {
            program,
            target,
            bytes,
        });
    }
    Ok(Inspection::Model(summarize(&load_model(path)?)))
}
