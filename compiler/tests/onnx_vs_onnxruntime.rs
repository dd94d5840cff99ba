//! The interpreter's float kernels against onnxruntime: every generated model in
//! `testdata/onnx/models/` (conv variants, conv transpose, pooling, resize modes, reduce,
//! gemm/matmul, activations, shape ops) is imported, run on its stored input, and
//! compared with onnxruntime's stored outputs (`NAME.output_J.npy`).

mod common;

use nnopt_compiler::import::onnx::import_onnx_bytes;
use nnopt_compiler::interp;
use serde_json::Value;

/// `|got - expected| <= ATOL + RTOL * |expected|`, elementwise.
const RTOL: f64 = 1e-4;
const ATOL: f64 = 1e-5;

#[test]
fn generated_models_match_onnxruntime() {
    let Some(dir) = common::testdata("onnx/models") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("index.json")).expect("index.json");
    let index: Value = serde_json::from_str(&text).expect("index.json parses");
    let mut failures = vec![];
    let models = index.as_array().expect("index.json is a list");
    for m in models {
        let name = m["name"].as_str().expect("model name");
        let n_in = m["inputs"].as_array().map_or(0, |v| v.len());
        let n_out = m["outputs"].as_array().map_or(0, |v| v.len());
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).expect("model file");
        let result = import_onnx_bytes(&bytes, name)
            .map_err(|e| format!("import: {e}"))
            .and_then(|g| {
                let inputs: Vec<_> = (0..n_in)
                    .map(|j| common::read_npy(&dir.join(format!("{name}.input_{j}.npy"))))
                    .collect();
                interp::run(&g, &inputs).map_err(|e| format!("run: {e}"))
            })
            .and_then(|got| {
                if got.len() != n_out {
                    return Err(format!("{} outputs, {n_out} expected", got.len()));
                }
                for (j, t) in got.iter().enumerate() {
                    let want = common::read_npy(&dir.join(format!("{name}.output_{j}.npy")));
                    common::allclose(t, &want, RTOL, ATOL)
                        .map_err(|e| format!("output {j}: {e}"))?;
                }
                Ok(())
            });
        println!(
            "{name:<24} {}",
            result.as_ref().map_or_else(|e| e.as_str(), |_| "ok")
        );
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(!models.is_empty(), "no generated models listed");
    assert!(
        failures.is_empty(),
        "mismatches against onnxruntime: {failures:#?}"
    );
}
