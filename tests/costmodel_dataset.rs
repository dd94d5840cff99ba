//! `nnopt costmodel dataset`: a small slice of the learned cost model's dataset, labelled
//! by nnopt's NPU estimate and by Vela (from the test venv), resumable and deterministic.

mod common;

use common::*;
use nnopt::costmodel::dataset::{Manifest, Record};
use std::path::Path;

fn record(dir: &Path, name: &str) -> Record {
    let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("record");
    serde_json::from_str(&text).expect("record parses")
}

#[test]
fn a_small_dataset_is_labelled_by_nnopt_and_vela() {
    let Some(vela) = require(&repo().join(".venv/bin/vela")) else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("ds");
    let args = [
        "costmodel",
        "dataset",
        "--space",
        "all",
        "--n",
        "2",
        "--seed",
        "2",
        "-o",
        out.to_str().unwrap(),
        "--labels",
        "npu,vela",
        "--vela",
        vela.to_str().unwrap(),
        "--vela-config",
        "ethos-u55-256",
        "--json",
    ];
    let run: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).expect("json");
    assert_eq!(run["generated"], 10, "{run}");
    let manifest: Manifest =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest.networks.len(), 10);
    assert_eq!(manifest.labels["vela:ethos-u55-256"], 10);
    for name in &manifest.networks {
        let r = record(&out, name);
        // The file is int8 TFLite that nnopt reads back with the recorded figures.
        let g = nnopt::load_model(&out.join(&r.file)).expect("the model loads");
        assert!(nnopt::passes::quantize_int8::is_quantized(&g), "{name}");
        assert_eq!(nnopt::summary::summarize(&g).macs, r.macs, "{name}");
        // The graph features cover the operators and their MACs.
        assert!(
            !r.graph.nodes.is_empty() && !r.graph.edges.is_empty(),
            "{name}"
        );
        assert_eq!(
            r.graph.nodes.iter().map(|n| n.macs).sum::<u64>(),
            r.macs,
            "{name}"
        );
        let npu = &r.npu["npu-256"];
        let vela = &r.vela["ethos-u55-256"];
        assert!(npu.cycles > 0 && vela.cycles > 0.0, "{name}");
        assert_eq!(
            npu.cpu_cycles, 0,
            "{name}: every op of the spaces runs on the NPU"
        );
        // Vela counts the same MACs (it may add a few for its own rescaling, and counts
        // the multiplies of the PReLUs it lowers, which nnopt does not).
        let macs = vela.macs / r.macs as f64;
        let most = if r.ops.contains_key("p_relu") {
            1.1
        } else {
            1.01
        };
        assert!(
            (0.99..most).contains(&macs),
            "{name}: Vela MACs {} vs {}",
            vela.macs,
            r.macs
        );
        println!(
            "{name}: {} MACs, nnopt npu-256 {} cycles, Vela ethos-u55-256 {} cycles",
            r.macs, npu.cycles, vela.cycles
        );
    }
    // `eval` on the test split (plain_3 and resnet_3 of these 10), the linear baseline
    // fitted on the other 8.
    let test: Vec<&String> = manifest
        .networks
        .iter()
        .filter(|n| nnopt::costmodel::eval::in_test_split(n))
        .collect();
    assert_eq!(test, ["plain_3", "resnet_3"]);
    let rows: serde_json::Value = serde_json::from_str(&nnopt_ok(&[
        "costmodel",
        "eval",
        out.to_str().unwrap(),
        "--json",
    ]))
    .expect("json");
    let row = |predictor: &str, space: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["predictor"] == predictor && r["space"] == space)
            .unwrap_or_else(|| panic!("no row for {predictor} on {space}: {rows}"))
            .clone()
    };
    assert_eq!(row("analytic npu-256", "all")["networks"], 2);
    assert_eq!(row("analytic npu-256", "plain")["networks"], 1);
    let operators = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["predictor"] == "analytic npu-u55-256" && r["figure"] == "operator_cycles")
        .unwrap_or_else(|| panic!("no per-operator row: {rows}"));
    assert!(operators["networks"].as_u64().unwrap() > 10, "{operators}");
    let linear = row("linear (MACs, bytes)", "all");
    assert!(
        linear["mape_percent"].as_f64().is_some_and(f64::is_finite),
        "{linear}"
    );
    // Every preset's estimate is priced from the recorded NPU work, as `compile` prices
    // the network.
    let r = record(&out, "resnet_3");
    assert!(r.npu_work.is_some());
    for (preset, _) in nnopt::backends::npu::target::PRESETS {
        let compiled: serde_json::Value = serde_json::from_str(&nnopt_ok(&[
            "compile",
            out.join(&r.file).to_str().unwrap(),
            "--target",
            preset,
            "-o",
            dir.path().join("x.npub").to_str().unwrap(),
            "--json",
        ]))
        .expect("json");
        assert_eq!(compiled["npu_cycles"], r.npu[*preset].cycles, "{preset}");
    }
    // Calibrating to Vela on the 8 training networks beats the ideal roofline on the 2
    // test networks, and the fitted target compiles models.
    let yaml = dir.path().join("fitted.yaml");
    let c: serde_json::Value = serde_json::from_str(&nnopt_ok(&[
        "costmodel",
        "calibrate",
        out.to_str().unwrap(),
        "--config",
        "ethos-u55-256",
        "-o",
        yaml.to_str().unwrap(),
        "--json",
    ]))
    .expect("json");
    assert_eq!(c["train_networks"], 8, "{c}");
    assert_eq!(c["fitted"]["name"], "npu-u55-256", "{c}");
    let mape = |when: &str| c[when]["network_mape_percent"].as_f64().unwrap();
    assert!(mape("after") < mape("before"), "{c}");
    nnopt_ok(&[
        "compile",
        out.join(&r.file).to_str().unwrap(),
        "--target-config",
        yaml.to_str().unwrap(),
        "-o",
        dir.path().join("y.npub").to_str().unwrap(),
    ]);
    // A second run finds every label and does nothing.
    let again: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).expect("json");
    assert_eq!(again["generated"], 0);
    assert_eq!(again["skipped"], 10);
}

#[test]
fn datasets_do_not_depend_on_the_thread_count() {
    let dir = tempdir();
    let files = |threads: &str| {
        let out = dir.path().join(format!("t{threads}"));
        nnopt_ok(&[
            "costmodel",
            "dataset",
            "--n",
            "1",
            "--seed",
            "11",
            "-o",
            out.to_str().unwrap(),
            "--threads",
            threads,
        ]);
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| {
                (
                    p.file_name().unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert!(
        files("1") == files("2"),
        "outputs differ between 1 and 2 threads"
    );
}

#[test]
fn litert_latency_is_measured_with_its_spread() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempdir();
    let out = dir.path().join("ds");
    nnopt_ok(&[
        "costmodel",
        "dataset",
        "--space",
        "dscnn",
        "--n",
        "1",
        "-o",
        out.to_str().unwrap(),
        "--labels",
        "litert",
        "--python",
        python.to_str().unwrap(),
        "--latency-runs",
        "5",
    ]);
    let r = record(&out, "dscnn_0");
    let l = r.litert.expect("a LiteRT label");
    assert_eq!(l.runs, 5);
    for t in [&l.builtin, &l.xnnpack] {
        assert!(t.median_ms > 0.0 && t.median_ms < 1000.0, "{t:?}");
        assert!(t.iqr_ms >= 0.0);
    }
    assert!(r.npu.is_empty(), "only the requested labels");
}

#[test]
fn dropped_models_leave_records_that_resume() {
    let dir = tempdir();
    let out = dir.path().join("ds");
    let args = [
        "costmodel",
        "dataset",
        "--space",
        "plain",
        "--n",
        "2",
        "-o",
        out.to_str().unwrap(),
        "--drop-models",
        "--json",
    ];
    let first: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).unwrap();
    assert_eq!(first["generated"], 2);
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tflite")), "{names:?}");
    let r = record(&out, "plain_0");
    assert!(!r.graph.nodes.is_empty() && r.npu.contains_key("npu-256"));
    let again: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).unwrap();
    assert_eq!(again["skipped"], 2);
    assert_eq!(again["manifest"]["networks"].as_array().unwrap().len(), 2);
    // NPU work in a form this version does not read is made again; the rest is kept.
    let path = out.join("plain_0.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    value["npu_work"]["commands"][0]["work"] = serde_json::json!({"taps": 9});
    std::fs::write(&path, value.to_string()).unwrap();
    assert!(record(&out, "plain_0").npu_work.is_none());
    let redone: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).unwrap();
    assert_eq!(redone["generated"], 1, "{redone}");
    assert_eq!(record(&out, "plain_0"), r);
    // Labels of a network the generator no longer writes that way (here: another file
    // size) are dropped when it is made again, not kept beside the new file's features.
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    value["file_bytes"] = serde_json::json!(1);
    value["npu_work"] = serde_json::Value::Null;
    value["vela"] = serde_json::json!({"ethos-u55-256": {"cycles": 1.0, "cycles_npu": 1.0,
        "inference_time_s": 0.0, "sram_bytes": 0.0, "off_chip_bytes": 0.0, "macs": 0.0,
        "encoded_weight_bytes": 0.0}});
    std::fs::write(&path, value.to_string()).unwrap();
    let redone: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).unwrap();
    assert_eq!(redone["generated"], 1, "{redone}");
    assert_eq!(record(&out, "plain_0"), r);
    // A damaged record is an error naming it, and is left as it is.
    std::fs::write(&path, "{\"format\": 3, \"name\": ").unwrap();
    let run = nnopt(&args);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plain_0.json") && err.contains("not a dataset record"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"format\": 3, \"name\": "
    );
}

#[test]
fn bad_requests_are_clear_errors() {
    let dir = tempdir();
    let out = dir.path().join("ds");
    for (flags, want) in [
        (vec!["--space", "vgg"], "unknown search space 'vgg'"),
        (vec!["--labels", "latency"], "--labels latency"),
        (
            vec!["--labels", "litert", "--python", "/nonexistent/python"],
            "cannot run Python",
        ),
        (
            vec!["--labels", "vela", "--vela", "/nonexistent/vela"],
            "cannot run Vela",
        ),
    ] {
        let mut args = vec![
            "costmodel",
            "dataset",
            "--n",
            "1",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend(flags.iter().copied());
        let run = nnopt(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
