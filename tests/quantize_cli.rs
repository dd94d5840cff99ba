//! `nnopt quantize`: every generated ONNX model, quantized to E4M3, E5M2 (also weights
//! only) and int8 and written as QDQ ONNX, runs in onnxruntime with the same outputs as
//! nnopt's interpreter on the quantized IR (`.nnir` from the same command line); bad
//! requests fail with clear errors.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn numbered(dir: &Path, prefix: &str, kind: &str) -> Vec<PathBuf> {
    (0..)
        .map(|k| dir.join(format!("{prefix}.{kind}_{k}.npy")))
        .take_while(|p| p.exists())
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn quantized_qdq_onnx_runs_in_onnxruntime_like_the_interpreter() {
    let (Some(python), Some(dir)) = (python(), require(&testdata().join("onnx/models"))) else {
        return;
    };
    let tmp = tempdir();
    let variants: [(&str, &[&str]); 4] = [
        ("e4m3", &["--format", "e4m3", "--per-channel"]),
        ("e5m2", &["--format", "e5m2"]),
        (
            "e4m3w",
            &["--format", "e4m3", "--per-channel", "--weights-only"],
        ),
        ("int8", &["--format", "int8", "--per-channel"]),
    ];
    let mut checked = 0;
    let mut quantized_ops = 0;
    for name in [
        "mlp_gemm",
        "cnn_bn_pool_softmax",
        "depthwise_conv",
        "grouped_conv",
        "residual_block",
    ] {
        let model = dir.join(format!("{name}.onnx"));
        let inputs = numbered(&dir, name, "input");
        assert!(!inputs.is_empty(), "{name}: no inputs");
        for (tag, flags) in variants {
            let onnx = tmp.path().join(format!("{name}_{tag}.onnx"));
            let ir = tmp.path().join(format!("{name}_{tag}.nnir"));
            let mut args = vec!["quantize", s(&model)];
            args.extend_from_slice(flags);
            for i in &inputs {
                args.extend(["--calibration", s(i)]);
            }
            let json = nnopt_ok(&[args.as_slice(), &["--json", "-o", s(&onnx)]].concat());
            let summary: serde_json::Value = serde_json::from_str(&json).expect("json");
            quantized_ops += summary["quantized_ops"].as_u64().expect("count");
            nnopt_ok(&[args.as_slice(), &["-o", s(&ir)]].concat());
            let mut run = vec!["run", s(&ir)];
            for i in &inputs {
                run.extend(["--input", s(i)]);
            }
            let outs: Vec<PathBuf> = (0..numbered(&dir, name, "output").len())
                .map(|k| tmp.path().join(format!("{name}_{tag}.out_{k}.npy")))
                .collect();
            for o in &outs {
                run.extend(["--output", s(o)]);
            }
            nnopt_ok(&run);
            let out = Command::new(&python)
                .arg(repo().join("tools/check_onnx_export.py"))
                .arg(&onnx)
                .arg("--inputs")
                .args(&inputs)
                .arg("--expected")
                .args(&outs)
                .args(["--rtol", "1e-4"])
                .output()
                .expect("python runs");
            println!(
                "{name} {tag}: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
            assert!(
                out.status.success(),
                "{name} {tag}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 20);
    assert!(quantized_ops >= 20, "{quantized_ops} ops quantized");
}

#[test]
fn quantized_outputs_are_byte_identical_across_runs() {
    let Some(dir) = require(&testdata().join("onnx/models")) else {
        return;
    };
    let tmp = tempdir();
    let model = dir.join("residual_block.onnx");
    let input = dir.join("residual_block.input_0.npy");
    for ext in ["onnx", "nnir"] {
        let runs: Vec<Vec<u8>> = (0..2)
            .map(|k| {
                let out = tmp.path().join(format!("r{k}.{ext}"));
                nnopt_ok(&[
                    "quantize",
                    s(&model),
                    "--format",
                    "e4m3",
                    "--per-channel",
                    "--calibration",
                    s(&input),
                    "-o",
                    s(&out),
                ]);
                std::fs::read(&out).expect("output written")
            })
            .collect();
        assert_eq!(runs[0], runs[1], "{ext} output differs between runs");
    }
}

#[test]
fn bad_quantize_requests_fail_clearly() {
    let Some(dir) = require(&testdata().join("onnx/models")) else {
        return;
    };
    let tmp = tempdir();
    let model = dir.join("mlp_gemm.onnx");
    let bad_ext = tmp.path().join("out.txt");
    let out = nnopt(&["quantize", s(&model), "-o", s(&bad_ext)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must end in .onnx or .nnir"));
    assert!(!bad_ext.exists());
    let w = tmp.path().join("w.onnx");
    let out = nnopt(&[
        "quantize",
        s(&model),
        "--format",
        "int8",
        "--weights-only",
        "-o",
        s(&w),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--weights-only applies to FP8"));
    // An int8 model is refused, naming the file.
    let Some(int8) = require(&shared().join("models/generated/digits_cnn_int8.tflite")) else {
        return;
    };
    let out = nnopt(&["quantize", s(&int8), "-o", s(&w)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("digits_cnn_int8.tflite") && err.contains("already quantized"),
        "{err}"
    );
    assert!(!w.exists());
}
