//! The README's main commands work on the bundled example model.

mod common;

use common::*;

#[test]
fn readme_main_commands_run_on_the_bundled_model() {
    let model = repo().join("examples/models/digits_cnn_float.tflite");
    let model = model.to_str().expect("utf-8");
    let dir = tempdir();
    let out = dir.path().join("digits_cnn.onnx");
    let run = nnopt(&[
        "opt",
        model,
        "--emit",
        "onnx",
        "-o",
        out.to_str().expect("utf-8"),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let stats: serde_json::Value =
        serde_json::from_str(&stderr).expect("per-pass statistics are JSON");
    assert!(stats.as_array().is_some_and(|a| !a.is_empty()));
    assert!(std::fs::metadata(&out).expect("onnx written").len() > 1000);
    let table = nnopt_ok(&["inspect", model]);
    assert!(table.contains("MACs") && table.contains("conv"), "{table}");
}
