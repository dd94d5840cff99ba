//! The in-process entry points: what nnopt does with one input of each format. Errors
//! are fine (the input is rejected); panics, aborts and hangs are findings.

use crate::format::Format;
use nnopt::backends::npu::binary;
use nnopt::backends::npu::program::Program;
use nnopt::backends::npu::vnpu;
use nnopt::compiler::cost::DefaultCost;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::compiler::pass::{Pipeline, PipelineSpec, Registry};
use nnopt::train::message::Message;
use nnopt::ModelFormat;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Models and programs run only when everything they declare (inputs, constants,
/// every value; for `.npub` files the arena and the inputs and outputs) fits in this
/// many bytes: running a model that declares gigabytes is not a bug.
const RUN_LIMIT: usize = 16 << 20;

/// What nnopt made of an input.
#[derive(Debug)]
pub enum Verdict {
    /// A reader took it (and what runs on it ran, with or without errors).
    Accepted,
    /// Every reader returned an error.
    Rejected,
}

/// The entry points, with a private directory for the readers that take paths.
pub struct Targets {
    dir: tempfile::TempDir,
    registry: Registry,
    memory_cap: usize,
}

impl Targets {
    /// Entry points for a process whose heap is capped at `memory_cap` bytes, with
    /// their directory in `tmp`.
    pub fn new(memory_cap: usize, tmp: &Path) -> std::io::Result<Self> {
        Ok(Targets {
            dir: tempfile::tempdir_in(tmp)?,
            registry: nnopt::registry(Arc::new(DefaultCost)),
            memory_cap,
        })
    }

    /// Feeds `input` to nnopt as a file of `format`:
    /// - `tflite`, `onnx`, `nnir`: `load_model`, then `run` on zero inputs (when small)
    ///   and `export` to TFLite and ONNX;
    /// - `npub`: the compiler's reader and the virtual NPU on zero inputs (when small),
    ///   and the firmware runtime's `Model::load` and `run`;
    /// - `ntp`: the training-program reader; `message`: `Message::from_bytes`;
    /// - `npy`: `read_npy`; `pipeline`: `PipelineSpec::from_yaml` and
    ///   `Pipeline::from_spec` (never run).
    pub fn run(&self, format: Format, input: &[u8]) -> Verdict {
        let accepted = match format {
            Format::Tflite | Format::Onnx | Format::Nnir => self.model(format, input),
            Format::Npub => self.npub(input),
            Format::Ntp => nnopt::train::binary::read(input).is_ok(),
            Format::Message => Message::from_bytes(input).is_ok(),
            Format::Npy => nnopt::npy::read_npy(&self.file(format, input)).is_ok(),
            Format::Pipeline => std::str::from_utf8(input).is_ok_and(|text| {
                PipelineSpec::from_yaml(text)
                    .and_then(|spec| Pipeline::from_spec(&spec, &self.registry))
                    .is_ok()
            }),
        };
        match accepted {
            true => Verdict::Accepted,
            false => Verdict::Rejected,
        }
    }

    /// `input` written to the private directory with `format`'s extension.
    fn file(&self, format: Format, input: &[u8]) -> PathBuf {
        let path = self.dir.path().join(format!("case.{}", format.extension()));
        std::fs::write(&path, input).expect("the private temp dir is writable");
        path
    }

    fn model(&self, format: Format, input: &[u8]) -> bool {
        let Ok(g) = nnopt::load_model(&self.file(format, input)) else {
            return false;
        };
        if declared_bytes(&g).is_some_and(|n| n <= RUN_LIMIT) {
            let inputs: Vec<Tensor> = g
                .inputs()
                .iter()
                .map(|&n| {
                    let ty = &g.node(n).outputs[0].ty;
                    Tensor::zeros(ty.dtype, &ty.shape)
                })
                .collect();
            let _ = nnopt::run(&g, &inputs);
        }
        let _ = nnopt::export(&g, ModelFormat::Tflite);
        let _ = nnopt::export(&g, ModelFormat::Onnx);
        true
    }

    fn npub(&self, input: &[u8]) -> bool {
        let compiler = match binary::read(input) {
            Ok((p, _)) => {
                if program_bytes(&p).is_some_and(|n| n <= RUN_LIMIT) {
                    let inputs: Vec<Tensor> = p
                        .inputs
                        .iter()
                        .map(|b| Tensor::zeros(b.dtype, &b.shape))
                        .collect();
                    let _ = vnpu::run(&p, &inputs);
                }
                true
            }
            Err(_) => false,
        };
        let runtime = match nnopt_rt::Model::load(input) {
            Ok(m) => {
                self.run_firmware(&m);
                true
            }
            Err(_) => false,
        };
        compiler || runtime
    }

    /// Runs a loaded binary in the firmware runtime on zeros, when its arena and
    /// buffers fit in half the memory cap (the other half is the process's own).
    fn run_firmware(&self, m: &nnopt_rt::Model<'_>) {
        let ins: Vec<usize> = (0..m.num_inputs())
            .map(|i| m.input(i).map_or(0, |t| t.size))
            .collect();
        let outs: Vec<usize> = (0..m.num_outputs())
            .map(|i| m.output(i).map_or(0, |t| t.size))
            .collect();
        let total = ins
            .iter()
            .chain(&outs)
            .try_fold(m.arena_size(), |sum, &n| sum.checked_add(n));
        if total.is_none_or(|n| n > self.memory_cap / 2) {
            return;
        }
        let mut arena = vec![0u8; m.arena_size()];
        let ins: Vec<Vec<u8>> = ins.into_iter().map(|n| vec![0; n]).collect();
        let mut outs: Vec<Vec<u8>> = outs.into_iter().map(|n| vec![0; n]).collect();
        let ins: Vec<&[u8]> = ins.iter().map(Vec::as_slice).collect();
        let mut outs: Vec<&mut [u8]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
        let _ = m.run(&mut arena, &ins, &mut outs);
    }
}

/// Bytes of every value `g` declares (inputs, constants and computed values), or
/// `None` past `usize`.
fn declared_bytes(g: &Graph) -> Option<usize> {
    g.node_indices()
        .into_iter()
        .flat_map(|n| g.node(n).outputs.iter().map(|v| &v.ty))
        .try_fold(0usize, |sum, ty| {
            let n = ty
                .shape
                .iter()
                .try_fold(ty.dtype.size_bytes(), |n, &d| n.checked_mul(d))?;
            sum.checked_add(n)
        })
}

/// Bytes of a program's arena, inputs and outputs, or `None` past `usize`.
fn program_bytes(p: &Program) -> Option<usize> {
    p.inputs
        .iter()
        .chain(&p.outputs)
        .try_fold(p.arena_size, |sum, b| {
            let n = b
                .shape
                .iter()
                .try_fold(b.dtype.size_bytes(), |n, &d| n.checked_mul(d))?;
            sum.checked_add(n)
        })
}
