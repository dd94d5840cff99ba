//! ONNX backend conformance: the node cases in `testdata/onnx-node/` whose op types are
//! all in the importer's scope, plus the whole-model folders (`onnx-light`,
//! `onnx-pytorch-converted`, `onnx-pytorch-operator`).
//!
//! Outputs are compared like ONNX's backend runner: `|got - expected| <= atol + rtol *
//! |expected|` with each case's own `rtol`/`atol` from `index.json`.
//!
//! Run with `cargo test -p nnopt-compiler --release --test onnx_conformance -- --nocapture`
//! to see the tables.

mod common;

use nnopt_compiler::import::onnx::import_onnx_bytes;
use nnopt_compiler::interp;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Op types the importer supports.
const SCOPE: &[&str] = &[
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Softmax",
    "LogSoftmax",
    "BatchNormalization",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Split",
    "Slice",
    "Pad",
    "ReduceMean",
    "ReduceMax",
    "Constant",
    "Identity",
    "Dropout",
    "Shape",
    "Gather",
    "Resize",
    "Upsample",
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "Cast",
    "Max",
    "Min",
    "PRelu",
    "Sum",
    "ReduceMin",
    "ReduceSum",
    "ConstantOfShape",
];

/// Required pass rate over in-scope node cases.
const MIN_PASS_RATE: f64 = 0.95;

/// Runs one case folder (`model.onnx` + `test_data_set_0/`) and compares its outputs.
fn run_case(dir: &Path, rtol: f64, atol: f64) -> Result<(), String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let name = dir.file_name().unwrap().to_str().unwrap();
    let g = import_onnx_bytes(&bytes, name).map_err(|e| format!("import: {e}"))?;
    let data = dir.join("test_data_set_0");
    let read_all = |kind: &str| -> Result<Vec<_>, String> {
        (0..)
            .map(|k| data.join(format!("{kind}_{k}.pb")))
            .take_while(|p| p.exists())
            .map(|p| common::read_pb(&p).map_err(|e| format!("{kind} data: {e}")))
            .collect()
    };
    let (inputs, expected) = (read_all("input")?, read_all("output")?);
    let got = interp::run(&g, &inputs).map_err(|e| format!("run: {e}"))?;
    if got.len() != expected.len() {
        return Err(format!(
            "{} outputs, {} expected",
            got.len(),
            expected.len()
        ));
    }
    for (k, (a, b)) in got.iter().zip(&expected).enumerate() {
        common::allclose(a, b, rtol, atol).map_err(|e| format!("output {k}: {e}"))?;
    }
    Ok(())
}

/// Runs `run_case`, turning a panic into an error.
fn run_guarded(dir: &Path, rtol: f64, atol: f64) -> (Result<(), String>, Duration) {
    let t = Instant::now();
    let r = std::panic::catch_unwind(|| run_case(dir, rtol, atol)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
        Err(format!("PANIC: {}", msg.unwrap_or_default()))
    });
    (r, t.elapsed())
}

struct Case {
    name: String,
    ops: Vec<String>,
    rtol: f64,
    atol: f64,
}

fn load_index(dir: &Path) -> Vec<Case> {
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json");
    let v: Value = serde_json::from_str(&text).expect("index.json parses");
    let entries = v.as_array().expect("index.json is a list");
    entries
        .iter()
        .map(|e| Case {
            name: e["name"].as_str().unwrap().to_string(),
            ops: e["op_types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o.as_str().unwrap().to_string())
                .collect(),
            rtol: e["rtol"].as_f64().unwrap_or(1e-3),
            atol: e["atol"].as_f64().unwrap_or(1e-7),
        })
        .collect()
}

fn in_scope(c: &Case) -> bool {
    c.ops.iter().all(|o| SCOPE.contains(&o.as_str()))
}

/// Runs every case of a folder; returns (case, result, time).
fn run_folder(dir: &Path, cases: &[&Case]) -> Vec<(String, Result<(), String>, Duration)> {
    cases
        .iter()
        .map(|c| {
            let (r, t) = run_guarded(&dir.join(&c.name), c.rtol, c.atol);
            (c.name.clone(), r, t)
        })
        .collect()
}

#[test]
fn node_conformance() {
    let Some(dir) = common::testdata("onnx-node") else {
        return;
    };
    let all = load_index(&dir);
    let cases: Vec<&Case> = all.iter().filter(|c| in_scope(c)).collect();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let results = run_folder(&dir, &cases);
    std::panic::set_hook(prev);
    let mut per_op: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (c, (_, r, _)) in cases.iter().zip(&results) {
        for op in &c.ops {
            let e = per_op.entry(op.as_str()).or_default();
            e.1 += 1;
            if r.is_ok() {
                e.0 += 1;
            }
        }
    }
    println!(
        "\nONNX node conformance ({} of {} cases in scope)",
        cases.len(),
        all.len()
    );
    println!("{:<22} {:>6} {:>6}", "op type", "pass", "cases");
    for (op, (p, n)) in &per_op {
        println!("{op:<22} {p:>6} {n:>6}");
    }
    let failures: Vec<_> = results.iter().filter(|(_, r, _)| r.is_err()).collect();
    println!("\nfailures ({}):", failures.len());
    for (name, r, _) in &failures {
        println!("  {name}: {}", r.as_ref().unwrap_err());
    }
    let passed = results.len() - failures.len();
    let rate = passed as f64 / results.len().max(1) as f64;
    let secs: f64 = results.iter().map(|r| r.2.as_secs_f64()).sum();
    println!(
        "\nnode cases: {passed} passed, {} failed ({:.1}%), {secs:.1} s",
        failures.len(),
        100.0 * rate
    );
    assert!(!results.is_empty(), "no in-scope cases found");
    assert!(
        failures
            .iter()
            .all(|(_, r, _)| !r.as_ref().unwrap_err().starts_with("PANIC")),
        "some cases panicked"
    );
    assert!(
        rate >= MIN_PASS_RATE,
        "pass rate {:.1}% is below {:.0}%",
        100.0 * rate,
        100.0 * MIN_PASS_RATE
    );
}

/// Whole-model folders: prints pass counts and asserts that every in-scope light model
/// passes.
#[test]
fn model_conformance() {
    let mut light_failures = vec![];
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for folder in [
        "onnx-light",
        "onnx-pytorch-converted",
        "onnx-pytorch-operator",
    ] {
        let Some(dir) = common::testdata(folder) else {
            continue;
        };
        let all = load_index(&dir);
        let cases: Vec<&Case> = all.iter().collect();
        let results = run_folder(&dir, &cases);
        let passed = results.iter().filter(|r| r.1.is_ok()).count();
        let scoped = all.iter().filter(|c| in_scope(c)).count();
        let scoped_passed = all
            .iter()
            .zip(&results)
            .filter(|(c, r)| in_scope(c) && r.1.is_ok())
            .count();
        println!(
            "\n{folder}: {passed} of {} pass; in scope: {scoped_passed} of {scoped}",
            results.len()
        );
        for (c, (name, r, t)) in all.iter().zip(&results) {
            let status = match r {
                Ok(()) => "ok".to_string(),
                Err(e) => e.chars().take(160).collect(),
            };
            let slow = if t.as_secs() > 60 { "  (> 60 s)" } else { "" };
            println!("  {name:<40} {:>7.2}s  {status}{slow}", t.as_secs_f64());
            if folder == "onnx-light" && in_scope(c) && r.is_err() {
                light_failures.push(name.clone());
            }
        }
    }
    std::panic::set_hook(prev);
    assert!(
        light_failures.is_empty(),
        "in-scope light models failed: {light_failures:?}"
    );
}
