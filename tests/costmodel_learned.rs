//! The learned cost model end to end: a small Vela-labelled dataset, `nnopt costmodel
//! train` (deterministic), `costmodel eval --model`, `nnopt predict` (with a trained and
//! the shipped model) and `nnopt opt --cost learned:...`, and clear errors.

mod common;

use common::*;
use std::path::Path;

/// A dataset of 5 networks per space labelled by nnopt and by Vela for ethos-u55-256.
fn dataset(dir: &Path) -> Option<std::path::PathBuf> {
    let vela = require(&repo().join(".venv/bin/vela"))?;
    let out = dir.join("ds");
    nnopt_ok(&[
        "costmodel",
        "dataset",
        "--n",
        "5",
        "-o",
        out.to_str().unwrap(),
        "--labels",
        "npu,vela",
        "--vela",
        vela.to_str().unwrap(),
        "--vela-config",
        "ethos-u55-256",
        "--drop-models",
    ]);
    Some(out)
}

#[test]
fn training_is_deterministic_and_its_model_is_scored_and_predicts() {
    let dir = tempdir();
    let Some(ds) = dataset(dir.path()) else {
        return;
    };
    let train_arch = |name: &str, arch: &str| {
        let model = dir.path().join(name);
        let out = nnopt_ok(&[
            "costmodel",
            "train",
            ds.to_str().unwrap(),
            "-o",
            model.to_str().unwrap(),
            "--epochs",
            "15",
            "--hidden",
            "16",
            "--arch",
            arch,
            "--json",
        ]);
        let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
        (model, summary)
    };
    let train = |name: &str| train_arch(name, "sage");
    let (model, summary) = train("a.safetensors");
    let (gcn, _) = train_arch("gcn.safetensors", "gcn");
    let targets = summary["targets"].as_array().unwrap();
    assert!(
        targets.iter().any(|t| t == "vela:ethos-u55-256:cycles"),
        "{summary}"
    );
    assert!(
        targets.iter().any(|t| t == "npu:npu-256:energy_uj"),
        "{summary}"
    );
    assert_eq!(summary["training"]["split"], "Random", "{summary}");
    let (again, _) = train("b.safetensors");
    assert_eq!(
        std::fs::read(&model).unwrap(),
        std::fs::read(&again).unwrap(),
        "the same data, options and seed give the same file"
    );

    // Scored on the networks it did not see, beside the baselines.
    let rows: serde_json::Value = serde_json::from_str(&nnopt_ok(&[
        "costmodel",
        "eval",
        ds.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--model",
        gcn.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let baseline = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["predictor"] == "GCN (BRP-NAS-style)" && r["figure"] == "cycles")
        .count();
    assert_eq!(
        baseline, 5,
        "the GCN baseline on all and on each space: {rows}"
    );
    let learned: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["predictor"] == "GraphSAGE" && r["space"] == "all" && r["figure"] == "cycles")
        .collect();
    assert_eq!(learned.len(), 1, "{rows}");
    let held_out = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["predictor"] == "analytic npu-256" && r["space"] == "all" && r["figure"] == "cycles"
        })
        .unwrap();
    assert_eq!(learned[0]["networks"], held_out["networks"]);
    assert!(learned[0]["mape_percent"]
        .as_f64()
        .is_some_and(f64::is_finite));

    // Per-layer figures add up to the network's.
    let person = shared().join("models/person_detect.tflite");
    let p: serde_json::Value = serde_json::from_str(&nnopt_ok(&[
        "predict",
        person.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(p["target"], "ethos-u55-256");
    let cycles = p["cycles"].as_f64().unwrap();
    let sum: f64 = p["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["cycles"].as_f64().unwrap())
        .sum();
    assert!((sum / cycles - 1.0).abs() < 1e-3, "{sum} vs {cycles}");
    assert!((p["latency_ms"].as_f64().unwrap() - cycles / 5e5).abs() < 1e-6 * cycles);
}

#[test]
fn the_shipped_model_prices_real_networks_on_every_target() {
    let person = shared().join("models/person_detect.tflite");
    for target in ["ethos-u55-128", "ethos-u55-256", "ethos-u65-256", "npu-256"] {
        let p: serde_json::Value = serde_json::from_str(&nnopt_ok(&[
            "predict",
            person.to_str().unwrap(),
            "--target",
            target,
            "--json",
        ]))
        .unwrap();
        assert_eq!(p["target"], target);
        for key in ["cycles", "latency_ms", "sram_bytes"] {
            assert!(
                p[key].as_f64().is_some_and(|v| v > 0.0),
                "{target} {key}: {p}"
            );
        }
        assert_eq!(p["energy_uj"].is_number(), target == "npu-256", "{p}");
        // One entry per operator of the int8 graph (31 in person_detect).
        assert_eq!(p["layers"].as_array().unwrap().len(), 31, "{p}");
    }
    // The CPU: a latency, no cycles.
    let p: serde_json::Value = serde_json::from_str(&nnopt_ok(&[
        "predict",
        person.to_str().unwrap(),
        "--target",
        "cpu",
        "--json",
    ]))
    .unwrap();
    assert!(p["latency_ms"].as_f64().is_some_and(|v| v > 0.0), "{p}");
    assert!(p["cycles"].is_null(), "{p}");
    // A float model is priced as its int8 form.
    let float = shared().join("models/generated/digits_cnn_float.tflite");
    let text = nnopt_ok(&["predict", float.to_str().unwrap(), "--target", "npu-256"]);
    assert!(text.contains("energy") && text.contains("cycles"), "{text}");
}

#[test]
fn opt_extracts_by_a_learned_cost() {
    let dir = tempdir();
    let digits = shared().join("models/generated/digits_cnn_float.tflite");
    opt_checks_the_learned_graph(&digits, dir.path());
    // mlp_gemm returns a gemm's output both as it is and through a ReLU: the learned cost
    // prices a gemm with the ReLU fused below a separate ReLU, so its extraction computes
    // that gemm twice, which is not taken.
    if let Some(mlp) = require(&testdata().join("onnx/models/mlp_gemm.onnx")) {
        let kept = opt_checks_the_learned_graph(&mlp, dir.path());
        assert_eq!(kept, ["default", "default"]);
    }
}

/// Optimizes `model` by each learned cost and checks the choice against the default
/// cost's graph; returns which graph each kept.
fn opt_checks_the_learned_graph(model: &Path, dir: &Path) -> Vec<String> {
    let mut kept = vec![];
    let optimized = |cost: &str| {
        let path = dir.join(format!("{}.nnir", cost.replace(':', "_")));
        let args = [model.to_str().unwrap(), "--cost", cost, "--json", "-o"];
        let out = nnopt_ok(&[&["opt"], &args[..], &[path.to_str().unwrap()]].concat());
        let summary: serde_json::Value = serde_json::from_str(&out).expect("json");
        (summary, std::fs::read(&path).expect("the optimized IR"))
    };
    let (_, default_ir) = optimized("default");
    for cost in ["learned:ethos-u55-256", "learned:cpu"] {
        let (summary, ir) = optimized(cost);
        assert!(
            summary["after"]["nodes"].as_u64().unwrap() > 0,
            "{cost}: {summary}"
        );
        // The learned extraction is kept only when the whole network is predicted at
        // least 3 % cheaper; otherwise the output is the default cost's graph.
        let choice = &summary["learned_choice"];
        let (learned, default) = (
            choice["learned"].as_f64().unwrap(),
            choice["default"].as_f64().unwrap(),
        );
        assert!(learned > 0.0 && default > 0.0, "{choice}");
        match choice["kept"].as_str() {
            Some("learned") => assert!(learned <= 0.97 * default, "{choice}"),
            Some("default") => assert_eq!(ir, default_ir, "{cost}: {choice}"),
            _ => panic!("{choice}"),
        }
        kept.push(choice["kept"].as_str().unwrap().to_string());
    }
    kept
}

#[test]
fn bad_requests_are_clear_errors() {
    let dir = tempdir();
    let person = shared().join("models/person_detect.tflite");
    let person = person.to_str().unwrap();
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(
        &garbage,
        b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        ",
    )
    .unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["predict", person, "--target", "tpu"],
            "unknown cost-model target 'tpu'",
        ),
        (
            &["predict", person, "--model", garbage.to_str().unwrap()],
            "not an nnopt cost model",
        ),
        (
            &["opt", person, "--cost", "fast"],
            "the costs are `default` and `learned:DEVICE`",
        ),
        (&["predict", "/nonexistent.tflite"], "nonexistent.tflite"),
    ];
    for (args, expected) in cases {
        let out = nnopt(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
