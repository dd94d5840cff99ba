//! Interpreter kernels against the ONNX node cases whose shape-like inputs (Resize scales
//! and sizes, Slice starts, Pad pads, Reduce axes, Split sizes, ...) are graph inputs.
//!
//! The importer needs those as constants, so this harness freezes every graph input but
//! the first into an initializer holding the case's own test value, then imports and runs
//! the case like the conformance suite (`|got - expected| <= atol + rtol * |expected|`).
//! Cases the importer still rejects are listed, not counted.
//!
//! Run with `cargo test -p nnopt-formats --test onnx_frozen_inputs -- --nocapture` for
//! the per-case table.

mod common;

use nnopt_compiler::interp;
use nnopt_formats::onnx::import_onnx_bytes;
use prost::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use tract_onnx::pb::{ModelProto, TensorProto};

/// Op types whose kernels this harness is meant to check: a failure of a case made only of
/// these (after a successful import) fails the test.
const CHECKED: &[&str] = &[
    "Resize",
    "Slice",
    "Pad",
    "ReduceMean",
    "ReduceMax",
    "ReduceMin",
    "ReduceSum",
    "Split",
    "Squeeze",
    "Unsqueeze",
    "Reshape",
    "Constant",
];

/// Cases whose expected output needs an attribute the IR does not carry.
const KNOWN: &[(&str, &str)] = &[];

enum Outcome {
    Pass,
    /// The importer rejected the frozen model (not a kernel result).
    Import(String),
    Fail(String),
}

/// Rewrites the model so that graph inputs 1.. are initializers with the case's values.
fn frozen_model(dir: &Path) -> Result<(Vec<u8>, usize), String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let mut model = ModelProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let graph = model.graph.as_mut().ok_or("model has no graph")?;
    let init_names: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let inputs: Vec<String> = graph
        .input
        .iter()
        .map(|i| i.name.clone())
        .filter(|n| !init_names.contains(n))
        .collect();
    for (k, name) in inputs.iter().enumerate().skip(1) {
        let pb = std::fs::read(dir.join(format!("test_data_set_0/input_{k}.pb")))
            .map_err(|e| e.to_string())?;
        let mut t = TensorProto::decode(pb.as_slice()).map_err(|e| e.to_string())?;
        t.name = name.clone();
        graph.initializer.push(t);
    }
    let first = inputs.first().cloned();
    graph
        .input
        .retain(|i| Some(&i.name) == first.as_ref() || init_names.contains(&i.name));
    Ok((model.encode_to_vec(), inputs.len().min(1)))
}

fn run_case(dir: &Path, rtol: f64, atol: f64) -> Outcome {
    let (bytes, n_inputs) = match frozen_model(dir) {
        Ok(m) => m,
        Err(e) => return Outcome::Fail(format!("rewrite: {e}")),
    };
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("case");
    let g = match import_onnx_bytes(&bytes, name) {
        Ok(g) => g,
        Err(e) => return Outcome::Import(e.to_string()),
    };
    let data = dir.join("test_data_set_0");
    let read = |p: std::path::PathBuf| common::read_pb(&p).map(|(_, t)| t);
    let inputs: Result<Vec<_>, _> = (0..n_inputs)
        .map(|k| read(data.join(format!("input_{k}.pb"))))
        .collect();
    let expected: Result<Vec<_>, _> = (0..)
        .map(|k| data.join(format!("output_{k}.pb")))
        .take_while(|p| p.exists())
        .map(read)
        .collect();
    let (inputs, expected) = match (inputs, expected) {
        (Ok(i), Ok(e)) => (i, e),
        (Err(e), _) | (_, Err(e)) => return Outcome::Fail(format!("test data: {e}")),
    };
    let got = match interp::run(&g, &inputs) {
        Ok(g) => g,
        Err(e) => return Outcome::Fail(format!("run: {e}")),
    };
    if got.len() != expected.len() {
        return Outcome::Fail(format!(
            "{} outputs, {} expected",
            got.len(),
            expected.len()
        ));
    }
    for (k, (a, b)) in got.iter().zip(&expected).enumerate() {
        if let Err(e) = common::allclose(a, b, rtol, atol) {
            return Outcome::Fail(format!("output {k}: {e}"));
        }
    }
    Outcome::Pass
}

#[test]
fn frozen_input_cases() {
    let Some(dir) = common::testdata("onnx-node") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json");
    let index: Value = serde_json::from_str(&text).expect("index.json parses");
    let cases: Vec<&Value> = index
        .as_array()
        .expect("index.json is a list")
        .iter()
        .filter(|c| c["inputs"].as_array().is_some_and(|i| i.len() > 1))
        .filter(|c| {
            let ops = c["op_types"].as_array().into_iter().flatten();
            ops.clone()
                .any(|o| CHECKED.contains(&o.as_str().unwrap_or("")))
                && ops
                    .clone()
                    .all(|o| CHECKED.contains(&o.as_str().unwrap_or("")))
        })
        .collect();
    let mut per_op: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = vec![];
    let mut rejected = vec![];
    for c in &cases {
        let name = c["name"].as_str().expect("case name");
        let rtol = c["rtol"].as_f64().unwrap_or(1e-3);
        let atol = c["atol"].as_f64().unwrap_or(1e-7);
        let outcome = run_case(&dir.join(name), rtol, atol);
        let op = c["op_types"][0].as_str().unwrap_or("?").to_string();
        match outcome {
            Outcome::Import(e) => rejected.push(format!("{name}: {e}")),
            Outcome::Pass => {
                let e = per_op.entry(op).or_default();
                e.0 += 1;
                e.1 += 1;
            }
            Outcome::Fail(e) => {
                per_op.entry(op).or_default().1 += 1;
                if !KNOWN.iter().any(|(k, _)| *k == name) {
                    failures.push(format!("{name}: {e}"));
                }
            }
        }
    }
    println!("\nnode cases with frozen inputs ({} cases)", cases.len());
    println!("{:<14} {:>5} {:>6}", "op type", "pass", "cases");
    for (op, (p, n)) in &per_op {
        println!("{op:<14} {p:>5} {n:>6}");
    }
    println!("\nrejected by the importer ({}):", rejected.len());
    for r in &rejected {
        println!("  {r}");
    }
    println!("\nkernel failures ({}):", failures.len());
    for f in &failures {
        println!("  {f}");
    }
    assert!(!per_op.is_empty(), "no case could be imported");
    assert!(failures.is_empty(), "{} kernel failures", failures.len());
}
