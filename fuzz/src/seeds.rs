//! Seeds: files from the command line sorted into formats, or built-in seeds made
//! in-process from the bundled digits models (exported, compiled to `.npub`, compiled
//! into training programs whose parameters fill FL messages) and from files kept beside
//! this crate.

use crate::format::Format;
use nnopt::backends::npu::target::Target;
use nnopt::compile::{NpuOptions, Precision};
use nnopt::compiler::ir::{text, DType, Graph, Tensor};
use nnopt::passes::TrainPrecision;
use nnopt::train::message::{layout_id, Encoding, Message, MessageKind, Payload};
use nnopt::train::{CompileOptions, Optimizer, OptimizerKind, TrainingProgram};
use nnopt::{compiler::fp8::Fp8Format, ModelFormat, Result};
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const DIGITS_INT8: &[u8] = include_bytes!("../../examples/models/digits_cnn_int8.tflite");
const DIGITS_FLOAT: &[u8] = include_bytes!("../../examples/models/digits_cnn_float.tflite");
/// A float graph of many ops (conv, pad, pools, concat, reduce, gemm, softmax, QDQ).
const OPS_IR: &str = include_str!("../seeds/ops.nnir");
const DEFAULT_PIPELINE: &str = include_str!("../../passes/pipelines/default.yaml");
const EVERY_OPTION_PIPELINE: &str = include_str!("../seeds/every-option.yaml");

/// Sorts `files` into formats by extension.
pub fn by_format(files: &[PathBuf]) -> std::result::Result<BTreeMap<Format, Vec<PathBuf>>, String> {
    let mut sorted: BTreeMap<Format, Vec<PathBuf>> = BTreeMap::new();
    for f in files {
        let format = Format::of_path(f).ok_or_else(|| {
            format!(
                "{}: unknown seed extension (known: .tflite .onnx .nnir .npub .ntp .nflm .npy \
                 .yaml)",
                f.display()
            )
        })?;
        sorted.entry(format).or_default().push(f.clone());
    }
    Ok(sorted)
}

/// Writes the built-in seeds of `format` into `dir` and returns their paths.
pub fn write_builtin(format: Format, dir: &Path) -> Result<Vec<PathBuf>> {
    builtin(format, dir)?
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(format!("{name}.{}", format.extension()));
            std::fs::write(&path, bytes).map_err(|e| {
                nnopt::Error::new(format!("cannot write a seed: {e}")).in_file(&path)
            })?;
            Ok(path)
        })
        .collect()
}

/// The built-in seeds of `format`, named; `scratch` holds the models they are made from.
fn builtin(format: Format, scratch: &Path) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let int8 = || model(scratch, "digits_cnn_int8.tflite", DIGITS_INT8);
    let float = || model(scratch, "digits_cnn_float.tflite", DIGITS_FLOAT);
    let ops = || text::parse_graph(OPS_IR);
    let export = nnopt::export;
    Ok(match format {
        Format::Tflite => vec![
            ("digits_cnn_int8", DIGITS_INT8.to_vec()),
            ("digits_cnn_float", DIGITS_FLOAT.to_vec()),
            ("ops", export(&ops()?, ModelFormat::Tflite)?),
        ],
        Format::Onnx => vec![
            ("digits_cnn_int8", export(&int8()?, ModelFormat::Onnx)?),
            ("digits_cnn_float", export(&float()?, ModelFormat::Onnx)?),
            ("ops", export(&ops()?, ModelFormat::Onnx)?),
        ],
        Format::Nnir => vec![
            ("digits_cnn_int8", export(&int8()?, ModelFormat::Ir)?),
            ("ops", OPS_IR.into()),
        ],
        Format::Npub => vec![
            ("digits_cnn_int8", npub(int8()?, Precision::Int8)?),
            ("digits_cnn_fp8", npub(float()?, Precision::Fp8)?),
            ("ops_int8", npub(ops()?, Precision::Int8)?),
        ],
        Format::Ntp => vec![
            (
                "digits_fp8_sgd",
                training(&float()?, TrainPrecision::Fp8)?.1,
            ),
            (
                "digits_fp32_adamw",
                training(&float()?, TrainPrecision::Fp32)?.1,
            ),
        ],
        Format::Message => messages(&training(&float()?, TrainPrecision::Fp8)?.0)?,
        Format::Npy => npys()?,
        Format::Pipeline => vec![
            ("default", DEFAULT_PIPELINE.into()),
            ("every_option", EVERY_OPTION_PIPELINE.into()),
        ],
    })
}

/// Loads a bundled model, written to `scratch` first.
fn model(scratch: &Path, name: &str, bytes: &[u8]) -> Result<Graph> {
    let path = scratch.join(name);
    std::fs::write(&path, bytes)
        .map_err(|e| nnopt::Error::new(format!("cannot write: {e}")).in_file(&path))?;
    nnopt::load_model(&path)
}

/// `g` compiled for the `npu` preset (float graphs quantized on synthetic data).
fn npub(g: Graph, precision: Precision) -> Result<Vec<u8>> {
    let opts = NpuOptions {
        target: Target::preset("npu")?,
        precision,
        cpu_fallback: true,
        calibration: Default::default(),
        pipeline: None,
    };
    Ok(nnopt::compile(g, &opts)?.binary)
}

/// A training program for `forward` with fresh weights (SGD for FP8, AdamW for FP32),
/// and its `.ntp` bytes.
fn training(forward: &Graph, precision: TrainPrecision) -> Result<(TrainingProgram, Vec<u8>)> {
    let kind = match precision {
        TrainPrecision::Fp8 => OptimizerKind::Sgd,
        _ => OptimizerKind::AdamW,
    };
    let opts = CompileOptions {
        precision,
        optimizer: Optimizer::defaults(kind),
        batch: 4,
        reinit: Some(0),
        ..CompileOptions::default()
    };
    let compiled = nnopt::train::compile_train(forward, &opts)?;
    Ok((compiled.program, compiled.bytes))
}

/// An update (f32), a broadcast (E4M3) and a broadcast delta (E5M2) of `program`'s
/// initial parameters.
fn messages(program: &TrainingProgram) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let values = program.initial_params()?;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);
    let kinds = [
        ("update_f32", MessageKind::Update, Encoding::F32),
        (
            "broadcast_e4m3",
            MessageKind::Broadcast,
            Encoding::Fp8(Fp8Format::E4M3),
        ),
        (
            "delta_e5m2",
            MessageKind::BroadcastDelta,
            Encoding::Fp8(Fp8Format::E5M2),
        ),
    ];
    kinds
        .into_iter()
        .map(|(name, kind, encoding)| {
            let payloads = values
                .iter()
                .map(|v| Payload::encode(v, encoding, false, &mut rng))
                .collect::<Result<_>>()?;
            let m = Message {
                kind,
                round: 3,
                client: 1,
                samples: 64,
                layout: layout_id(&program.params),
                payloads,
            };
            Ok((name, m.to_bytes()))
        })
        .collect()
}

/// Arrays of several element types and ranks, a scalar among them.
fn npys() -> Result<Vec<(&'static str, Vec<u8>)>> {
    let ramp = |dtype, shape: &[usize]| {
        let n: usize = shape.iter().product();
        let values: Vec<f64> = (0..n).map(|i| (i % 7) as f64 - 3.0).collect();
        Tensor::from_f64s(dtype, shape, &values).expect("an integer or f32 type")
    };
    [
        ("f32_image", ramp(DType::F32, &[1, 8, 8, 1])),
        ("i8_matrix", ramp(DType::I8, &[2, 3])),
        ("i64_scalar", ramp(DType::I64, &[])),
        ("bool_vector", Tensor::zeros(DType::Bool, &[5])),
    ]
    .into_iter()
    .map(|(name, t)| Ok((name, nnopt::npy::npy_bytes(&t)?)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{Targets, Verdict};

    /// Seeds that a reader rejects would only test its first check.
    #[test]
    fn builtin_seeds_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let targets = Targets::new(usize::MAX, dir.path()).unwrap();
        for format in Format::ALL {
            let seeds = builtin(format, dir.path()).unwrap();
            assert!(!seeds.is_empty());
            for (name, bytes) in seeds {
                let verdict = targets.run(format, &bytes);
                assert!(
                    matches!(verdict, Verdict::Accepted),
                    "{format:?} {name} rejected"
                );
            }
        }
    }
}
