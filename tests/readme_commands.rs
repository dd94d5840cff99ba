//! The README's main commands work on the bundled example models.

mod common;

use common::*;

#[test]
fn readme_compile_and_run_the_bundled_int8_model() {
    let dir = tempdir();
    let model = dir.path().join("digits_cnn_int8.tflite");
    std::fs::copy(
        repo().join("examples/models/digits_cnn_int8.tflite"),
        &model,
    )
    .unwrap();
    let report = dir.path().join("report.html");
    let table = nnopt_ok(&[
        "compile",
        model.to_str().unwrap(),
        "--target",
        "npu",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        table.contains("NPU:") && table.contains("conv2d"),
        "{table}"
    );
    assert!(std::fs::read_to_string(&report).unwrap().contains("<svg"));
    let x = dir.path().join("x.npy");
    let zeros = nnopt::compiler::ir::Tensor::I8(ndarray::ArrayD::zeros(vec![2, 8, 8, 1]));
    nnopt::npy::write_npy(&x, &zeros).unwrap();
    let npub = dir.path().join("digits_cnn_int8.npub");
    let out = nnopt_ok(&[
        "run",
        npub.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
    ]);
    assert!(out.contains("[2, 10]"), "{out}");
}

#[test]
fn readme_optimize_the_bundled_float_model() {
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
        serde_json::from_str(&String::from_utf8_lossy(&run.stdout)).expect("summary is JSON");
    assert!(stats["passes"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(std::fs::metadata(&out).expect("onnx written").len() > 1000);
    let table = nnopt_ok(&["inspect", model]);
    assert!(table.contains("MACs") && table.contains("conv"), "{table}");
}
