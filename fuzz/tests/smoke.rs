//! A short campaign over every format: the driver binary with a fixed seed, on the
//! shared int8 models and the generated ONNX models, NPU binaries compiled from those
//! models, training programs and FL messages made from the digits models (built-in seeds
//! where these are missing); no mutant may panic, abort or hang.

use nnopt::backends::npu::target::Target;
use nnopt::compile::{NpuOptions, Precision};
use nnopt::compiler::fp8::Fp8Format;
use nnopt::passes::TrainPrecision;
use nnopt::train::message::{layout_id, Encoding, Message, MessageKind, Payload};
use nnopt::train::CompileOptions;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Mutants per format: about two minutes for the whole run in the test profile on two
/// cores.
const MUTANTS: &str = "40000";

/// The repository root (the folder above this crate).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The small shared models, those that exist.
fn shared_models(names: &[&str]) -> Vec<PathBuf> {
    let shared = repo().join("../shared/models");
    names
        .iter()
        .map(|m| shared.join(format!("{m}.tflite")))
        .filter(|p| p.exists())
        .collect()
}

/// The generated ONNX models (`$NNOPT_TESTDATA`, else `testdata/`), those that exist.
fn onnx_models() -> Vec<PathBuf> {
    let testdata = std::env::var_os("NNOPT_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("testdata"));
    let mut files = Vec::new();
    for dir in ["onnx/models", "digits"] {
        let Ok(entries) = std::fs::read_dir(testdata.join(dir)) else {
            continue;
        };
        let mut onnx: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .collect();
        onnx.sort();
        files.extend(onnx);
    }
    files
}

/// Seed files in `dir`: the shared int8 models and the ONNX models as they are, `.npub`
/// files compiled from the int8 models (and FP8 from the float digits CNN), `.ntp`
/// programs from the float digits models and FL messages of their parameters.
fn seed_files(dir: &Path) -> Vec<PathBuf> {
    let int8 = shared_models(&[
        "hello_world_int8",
        "keyword_scrambled_8bit",
        "micro_speech_quantized",
        "generated/digits_cnn_int8",
    ]);
    let float = shared_models(&["generated/digits_cnn_float"]);
    let onnx = onnx_models();
    let mut files: Vec<PathBuf> = int8.iter().chain(&onnx).cloned().collect();
    let write = |name: String, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let compiles = int8.iter().map(|m| (m, Precision::Int8));
    for (model, precision) in compiles.chain(float.iter().map(|m| (m, Precision::Fp8))) {
        let opts = NpuOptions {
            target: Target::preset("npu").unwrap(),
            precision,
            cpu_fallback: true,
            calibration: Default::default(),
            pipeline: None,
        };
        let g = nnopt::load_model(model).unwrap();
        let binary = nnopt::compile(g, &opts).unwrap().binary;
        let stem = model.file_stem().unwrap().to_string_lossy();
        files.push(write(format!("{stem}_{precision:?}.npub"), binary));
    }
    let mlp = onnx
        .iter()
        .filter(|m| m.ends_with("digits/digits_mlp.onnx"));
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    for model in float.iter().chain(mlp) {
        let opts = CompileOptions {
            precision: TrainPrecision::Fp8,
            reinit: Some(0),
            ..CompileOptions::default()
        };
        let compiled = nnopt::train::compile_train(&nnopt::load_model(model).unwrap(), &opts);
        let compiled = compiled.unwrap();
        let stem = model.file_stem().unwrap().to_string_lossy();
        files.push(write(format!("{stem}.ntp"), compiled.bytes));
        let program = &compiled.program;
        let values = program.initial_params().unwrap();
        for (kind, encoding) in [
            (MessageKind::Update, Encoding::F32),
            (MessageKind::Broadcast, Encoding::Fp8(Fp8Format::E4M3)),
        ] {
            let message = Message {
                kind,
                round: 1,
                client: 2,
                samples: 32,
                layout: layout_id(&program.params),
                payloads: values
                    .iter()
                    .map(|v| Payload::encode(v, encoding, false, &mut rng).unwrap())
                    .collect(),
            };
            files.push(write(format!("{stem}_{kind:?}.nflm"), message.to_bytes()));
        }
    }
    files
}

#[test]
fn no_mutant_panics_aborts_or_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = seed_files(dir.path());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nnopt-fuzz"));
    cmd.args(["--mutants", MUTANTS, "--seed", "1", "--json", "--out"])
        .arg(dir.path().join("findings"));
    if !seeds.is_empty() {
        cmd.arg("--seeds").args(&seeds);
    }
    let run = cmd.output().expect("nnopt-fuzz runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{stderr}"));
    for f in report["formats"].as_array().unwrap() {
        let n = |k: &str| f[k].as_u64().unwrap_or(0);
        println!(
            "{:<9} {:>6} mutants, {:>5} accepted, {} panics, {} aborts, {} hangs, {:.1} s",
            f["format"].as_str().unwrap_or("?"),
            n("mutants"),
            n("accepted"),
            n("panics"),
            n("aborts"),
            n("hangs"),
            f["seconds"].as_f64().unwrap_or(0.0)
        );
    }
    let distinct = report["distinct"].as_array().unwrap();
    assert!(
        distinct.is_empty(),
        "findings:\n{}",
        serde_json::to_string_pretty(distinct).unwrap()
    );
    assert!(run.status.success(), "{stderr}");
}
