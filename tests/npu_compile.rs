//! `nnopt compile --target npu` end to end: the binary read back runs bit-exactly with the
//! interpreter on the source model, corrupt or truncated binaries are rejected, and the
//! CLI writes the binary, the JSON summary and the HTML report.

mod common;

use common::npu::{npu_options, seeded_inputs, INT8_MODELS};

use common::{nnopt, nnopt_ok, require, run_on, shared, tempdir};
use nnopt::backends::npu::binary;
use nnopt::backends::npu::vnpu;
use nnopt::compile::compile_npu;
use nnopt::compiler::interp;
use nnopt::compiler::ir::Tensor;

#[test]
fn compiled_binaries_run_bit_exactly() {
    for m in INT8_MODELS {
        let Some(path) = require(&shared().join(format!("models/{m}.tflite"))) else {
            continue;
        };
        let g = nnopt::load_model(&path).unwrap();
        let c = compile_npu(g.clone(), &npu_options()).unwrap_or_else(|e| panic!("{m}: {e}"));
        let (p, target) = binary::read(&c.binary).unwrap_or_else(|e| panic!("{m}: {e}"));
        assert_eq!(p, c.program, "{m}: program changed through the binary");
        assert_eq!(target.name, "npu-256");
        for seed in 0..3 {
            let x = seeded_inputs(&g, seed);
            let want = interp::run(&g, &x).unwrap();
            let got = vnpu::run(&p, &x).unwrap_or_else(|e| panic!("{m}: {e}"));
            assert_eq!(got, want, "{m} seed {seed}");
        }
        let (raw, enc) = c.weight_totals();
        println!(
            "{m}: binary {} bytes, weights {raw} -> {enc} ({:.3}), arena {} vs naive {}, {} NPU cycles, {} fallbacks",
            c.binary.len(),
            enc as f64 / raw.max(1) as f64,
            c.lowering.arena_bytes,
            c.lowering.naive_bytes,
            c.estimate.npu_cycles,
            c.lowering.fallbacks.len()
        );
    }
}

#[test]
fn compilation_is_deterministic() {
    let Some(path) = require(&shared().join("models/generated/mobilenet_v2_035_96_int8.tflite"))
    else {
        return;
    };
    let g = nnopt::load_model(&path).unwrap();
    let a = compile_npu(g.clone(), &npu_options()).unwrap();
    let b = compile_npu(g, &npu_options()).unwrap();
    assert_eq!(a.binary, b.binary);
}

#[test]
fn corrupt_and_truncated_binaries_are_rejected() {
    let Some(path) = require(&shared().join("models/generated/digits_cnn_int8.tflite")) else {
        return;
    };
    let c = compile_npu(nnopt::load_model(&path).unwrap(), &npu_options()).unwrap();
    let file = &c.binary;
    // Every byte of the file, one flipped bit each (the bit cycles through positions).
    for i in 0..file.len() {
        let mut bad = file.clone();
        bad[i] ^= 1 << (i % 8);
        assert!(binary::read(&bad).is_err(), "flip at byte {i} was accepted");
    }
    for len in (0..file.len()).step_by(7) {
        let err = binary::read(&file[..len]).unwrap_err().to_string();
        assert!(
            err.contains("truncated") || err.contains("shorter") || err.contains("magic"),
            "truncation to {len}: {err}"
        );
    }
}

#[test]
fn cli_compiles_runs_and_inspects() {
    let Some(model) = require(&shared().join("models/generated/digits_cnn_int8.tflite")) else {
        return;
    };
    let dir = tempdir();
    let local = dir.path().join("digits.tflite");
    std::fs::copy(&model, &local).unwrap();
    let local = local.to_str().unwrap();
    // Default output: the model's stem + .npub; the table lists the layers.
    let table = nnopt_ok(&["compile", local, "--target", "npu"]);
    assert!(
        table.contains("conv2d") && table.contains("NPU:"),
        "{table}"
    );
    let npub = dir.path().join("digits.npub");
    assert!(npub.exists());
    let report = dir.path().join("r.html");
    let json = nnopt_ok(&[
        "compile",
        local,
        "--target",
        "npu-512",
        "-o",
        dir.path().join("x.npub").to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["target"], "npu-512");
    assert!(v["weight_encoded_bytes"].as_u64().unwrap() > 0);
    assert!(v["layers"].as_array().unwrap().len() >= 5);
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("<svg").count(), 4);
    // The binary runs and its description names the target.
    let info = nnopt_ok(&["inspect", npub.to_str().unwrap()]);
    assert!(info.contains("npu-256"), "{info}");
    let x = Tensor::I8(ndarray::ArrayD::zeros(vec![3, 8, 8, 1]));
    let y = run_on(&npub, &x, dir.path());
    assert_eq!(y.shape(), &[3, 10]);
    // Bad input: unknown target, corrupt binary.
    let bad = nnopt(&["compile", local, "--target", "npu-7"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("npu-128"));
    let mut bytes = std::fs::read(&npub).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&npub, &bytes).unwrap();
    let bad = nnopt(&["inspect", npub.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("CRC"));
}

#[test]
fn compile_table_snapshot() {
    let Some(path) = require(&shared().join("models/generated/digits_cnn_int8.tflite")) else {
        return;
    };
    let c = compile_npu(nnopt::load_model(&path).unwrap(), &npu_options()).unwrap();
    let table = nnopt::report::npu::render_table(&c, "digits_cnn_int8");
    let stable: Vec<&str> = table
        .lines()
        .filter(|l| !l.starts_with("compiled in"))
        .collect();
    insta::assert_snapshot!(stable.join("\n"));
}

/// The schedules of two MediaPipe float models (synthetic calibration): channel padding
/// and requantizing concats (face detection); hard swish and sigmoid tables, resizes and
/// the transposed convolution (selfie segmentation).
#[test]
fn mediapipe_lowering_snapshots() {
    for m in ["face_detection_short_range", "selfie_segmentation"] {
        let Some(path) = require(&shared().join(format!("models/{m}.tflite"))) else {
            continue;
        };
        let c = compile_npu(nnopt::load_model(&path).unwrap(), &npu_options()).unwrap();
        assert!(
            c.lowering.fallbacks.is_empty(),
            "{m}: {:?}",
            c.lowering.fallbacks
        );
        insta::assert_snapshot!(
            format!("lowering_{m}"),
            nnopt::backends::npu::print::schedule(&c.program).join("\n")
        );
    }
}

#[test]
fn format_1_2_binaries_still_load() {
    // Written by nnopt before format 1.3 (FP8) from hello_world_int8.tflite.
    let old = std::fs::read(common::repo().join("tests/data/hello_world_int8_format_1_2.npub"))
        .expect("fixture");
    assert_eq!(&old[4..8], &[1, 0, 2, 0], "the fixture is format 1.2");
    let (p, target) = binary::read(&old).unwrap();
    assert_eq!(target.fp8_macs_per_cycle, 0);
    assert!(p.weights.iter().all(|w| w.fp8.is_none()));
    let Some(path) = require(&shared().join("models/hello_world_int8.tflite")) else {
        return;
    };
    let g = nnopt::load_model(&path).unwrap();
    let c = compile_npu(g.clone(), &npu_options()).unwrap();
    assert_eq!(p, c.program);
    let x = seeded_inputs(&g, 1);
    assert_eq!(vnpu::run(&p, &x).unwrap(), interp::run(&g, &x).unwrap());
}
