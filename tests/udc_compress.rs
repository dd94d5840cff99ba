//! `nnopt compress` (UDC) end to end on the digits CNN and the Fashion-MNIST DS-CNN:
//! the budget holds for every budget asked, the searched models run bit-exactly on the
//! virtual NPU against the interpreter, exported TFLite compiles to the same bytes, and
//! the command's outputs (model, JSON, report) and errors.

mod common;

use common::{lcg_step, nnopt, nnopt_ok, repo, require, shared, tempdir, testdata};
use nnopt::backends::npu::{binary, vnpu};
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::compress::{compress, npu_options, weight_blocks, CompressRequest, Compressed};
use nnopt::train::data::{load_csv, load_idx_dir, Dataset};
use nnopt_udc::{Progress, SearchOptions};
use std::path::{Path, PathBuf};

fn digits_model() -> Option<PathBuf> {
    require(&repo().join("examples/models/digits_cnn_float.tflite"))
}

fn digits_data() -> Option<Dataset> {
    let csv = require(&shared().join("data/digits.csv.gz"))?;
    Some(load_csv(&csv).unwrap())
}

/// A short search of the pretrained digits CNN.
fn short(budget: usize, baselines: bool) -> CompressRequest {
    CompressRequest {
        search: SearchOptions {
            search_epochs: 2,
            finetune_epochs: 1,
            ..SearchOptions::new(budget)
        },
        warmup_epochs: 0,
        batch: 16,
        learning_rate: 0.005,
        baselines,
        seed: 0,
    }
}

/// Seeded inputs in [0, 1) of the graph's input shape.
fn inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut s = seed;
    let ty = &g.node(g.inputs()[0]).outputs[0].ty;
    let v: Vec<f64> = (0..ty.num_elements())
        .map(|_| (lcg_step(&mut s) >> 40) as f64 / (1u64 << 24) as f64)
        .collect();
    vec![Tensor::from_f64s(ty.dtype, &ty.shape, &v).unwrap()]
}

/// The `.npub` of a compressed model, read back, runs bit-exactly with the interpreter.
fn assert_bit_exact(c: &Compressed, what: &str) {
    let compiled = nnopt::compile::compile_npu(c.graph.clone(), &npu_options().unwrap()).unwrap();
    let (program, _) = binary::read(&compiled.binary).unwrap();
    for seed in 0..3 {
        let x = inputs(&compiled.graph, seed);
        let want = interp::run(&compiled.graph, &x).unwrap();
        let got = vnpu::run(&program, &x).unwrap();
        assert_eq!(got, want, "{what} seed {seed}");
    }
    assert!(
        compiled.lowering.fallbacks.is_empty(),
        "{what}: {:?}",
        compiled.lowering.fallbacks
    );
}

/// The model exported as int8 TFLite (dense and with sparse tensors) and as QDQ ONNX,
/// read back and compiled, gives `bytes` encoded weight bytes.
fn assert_exports_compile_to(c: &Compressed, bytes: usize, what: &str) {
    let dir = tempdir();
    let sparse = nnopt::formats::tflite::TfliteExportOptions {
        sparse_weights: true,
    };
    let files = [
        (
            "tflite",
            nnopt::formats::tflite::export_tflite(&c.graph).unwrap(),
        ),
        ("onnx", nnopt::formats::onnx::export_onnx(&c.graph).unwrap()),
        (
            "tflite",
            nnopt::formats::tflite::export_tflite_with(&c.graph, &sparse).unwrap(),
        ),
    ];
    assert!(
        files[2].1.len() < files[0].1.len(),
        "{what}: sparse TFLite is smaller"
    );
    for (i, (ext, file)) in files.into_iter().enumerate() {
        let path = dir.path().join(format!("m{i}.{ext}"));
        std::fs::write(&path, file).unwrap();
        let g = nnopt::load_model(&path).unwrap();
        let got: usize = weight_blocks(&g).unwrap().iter().map(|b| b.1).sum();
        assert_eq!(got, bytes, "{what}: {ext} #{i}");
    }
}

#[test]
fn the_budget_holds_for_every_budget() {
    let (Some(model), Some(data)) = (digits_model(), digits_data()) else {
        return;
    };
    let g = nnopt::load_model(&model).unwrap();
    // Dense int8 is 6,885 bytes; the smallest encodings of this model are near 700.
    let budgets = [1100, 1400, 1700, 2000, 2400, 2900, 3500, 4200, 5200, 8000];
    let mut sizes = Vec::new();
    for budget in budgets {
        let c = compress(&g, &data, &short(budget, false), &Progress::silent())
            .unwrap_or_else(|e| panic!("budget {budget}: {e}"));
        let bytes: usize = weight_blocks(&c.graph).unwrap().iter().map(|b| b.1).sum();
        assert_eq!(bytes, c.report.after.bytes, "budget {budget}");
        assert!(bytes <= budget, "budget {budget}: {bytes} bytes");
        // Over 60 % of the budget is used (the search aims at 97 %).
        assert!(
            bytes * 10 >= budget * 6 || budget > c.report.before.bytes,
            "budget {budget}: only {bytes} bytes used"
        );
        sizes.push((budget, bytes, c.report.after.accuracy));
        if budget == 1400 || budget == 2400 {
            assert_bit_exact(&c, &format!("budget {budget}"));
            assert_exports_compile_to(&c, bytes, &format!("budget {budget}"));
        }
    }
    println!("(budget, bytes, test accuracy): {sizes:?}");
    // A budget below what the model's biases and requantization records take is an
    // error that says so.
    let err = compress(&g, &data, &short(200, false), &Progress::silent())
        .err()
        .expect("an impossible budget fails")
        .to_string();
    assert!(err.contains("below the smallest encoding"), "{err}");
}

#[test]
fn searched_models_beat_the_baselines_and_keep_accuracy() {
    let (Some(model), Some(data)) = (digits_model(), digits_data()) else {
        return;
    };
    let g = nnopt::load_model(&model).unwrap();
    let req = CompressRequest {
        search: SearchOptions {
            search_epochs: 10,
            finetune_epochs: 10,
            ..SearchOptions::new(1967)
        },
        ..short(1967, true)
    };
    let c = compress(&g, &data, &req, &Progress::silent()).unwrap();
    let r = &c.report;
    println!("{}", serde_json::to_string_pretty(r).unwrap());
    assert!(r.after.bytes <= 1967);
    // 3.5x smaller than dense int8 (6,885 bytes) within 2 points (the benchmark's
    // longer run is within 1); every baseline meets the budget too.
    assert!(r.ratio >= 3.5, "{}", r.ratio);
    assert!(r.before.accuracy - r.after.accuracy <= 0.02, "{r:?}");
    assert_eq!(r.baselines.len(), 3);
    for b in &r.baselines {
        assert!(b.bytes <= 1967, "{}: {} bytes", b.name, b.bytes);
    }
    let magnitude_int8 = &r.baselines[0];
    assert!(r.after.accuracy > magnitude_int8.accuracy + 0.02, "{r:?}");
    assert_eq!(r.layers.len(), 5);
    assert!(r.layers.iter().any(|l| l.sparsity > 0.3 && l.bits < 8));
}

#[test]
fn fashion_dscnn_trains_and_compresses() {
    let (Some(model), Some(dir)) = (
        require(&testdata().join("udc/fashion_dscnn.onnx")),
        require(Path::new("/usr/share/datasets/fashion-mnist")),
    ) else {
        return;
    };
    let mut data = load_idx_dir(&dir).unwrap();
    assert_eq!(
        (data.train_rows.len(), data.test_rows.len()),
        (60_000, 10_000)
    );
    // A small, fixed share: 3,000 training and 1,000 test images.
    data.train_rows.truncate(3000);
    data.test_rows.truncate(1000);
    let g = nnopt::load_model(&model).unwrap();
    let req = CompressRequest {
        search: SearchOptions {
            search_epochs: 1,
            finetune_epochs: 1,
            ..SearchOptions::new(6000)
        },
        warmup_epochs: 2,
        learning_rate: 0.05,
        ..short(6000, false)
    };
    let c = compress(&g, &data, &req, &Progress::silent()).unwrap();
    let r = &c.report;
    println!("{}", serde_json::to_string_pretty(r).unwrap());
    assert!(r.after.bytes <= 6000);
    // Well above chance (10 %) after this little training.
    assert!(r.float_accuracy > 0.4, "{}", r.float_accuracy);
    assert!(r.after.accuracy > 0.3, "{}", r.after.accuracy);
    assert_eq!(r.layers.len(), 8);
    assert_bit_exact(&c, "fashion");
}

#[test]
fn cli_writes_the_model_json_and_report() {
    let (Some(model), Some(csv)) = (
        digits_model(),
        require(&shared().join("data/digits.csv.gz")),
    ) else {
        return;
    };
    let dir = tempdir();
    let (model_s, csv_s) = (model.to_str().unwrap(), csv.to_str().unwrap());
    // A short search of the pretrained CNN with `extra` flags.
    let run = |extra: &[&str]| {
        let mut a = vec![
            "compress",
            model_s,
            "--data",
            csv_s,
            "--warmup-epochs",
            "0",
            "--finetune-epochs",
            "1",
            "--learning-rate",
            "0.005",
            "--no-baselines",
        ];
        a.extend_from_slice(extra);
        nnopt_ok(&a)
    };
    let out = dir.path().join("d.tflite");
    let report = dir.path().join("udc.html");
    let (out_s, report_s) = (out.to_str().unwrap(), report.to_str().unwrap());
    let json = run(&[
        "--budget",
        "2.5KiB",
        "--epochs",
        "2",
        "--threads",
        "1",
        "--report",
        report_s,
        "--json",
        "-o",
        out_s,
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["budget"], 2560);
    let bytes = v["after"]["bytes"].as_u64().unwrap();
    assert!(bytes <= 2560);
    assert_eq!(v["layers"].as_array().unwrap().len(), 5);
    for key in ["bits", "sparsity", "bytes", "weights", "layer"] {
        assert!(v["layers"][0].get(key).is_some(), "{key}");
    }
    // The TFLite file compiles to the same encoded bytes.
    let compiled = nnopt_ok(&[
        "compile",
        out_s,
        "--json",
        "-o",
        dir.path().join("d.npub").to_str().unwrap(),
    ]);
    let c: serde_json::Value = serde_json::from_str(&compiled).unwrap();
    assert_eq!(c["weight_encoded_bytes"].as_u64(), Some(bytes));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("Pareto"), "report");
    // The same run on 2 threads gives the same file.
    let out2 = dir.path().join("d2.tflite");
    run(&[
        "--budget",
        "2.5KiB",
        "--epochs",
        "2",
        "--threads",
        "2",
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
    // --val replaces the test split: every row of the file is tested, all of --data trains.
    let val = run(&[
        "--budget",
        "3000",
        "--val",
        csv_s,
        "--epochs",
        "1",
        "--json",
        "-o",
        dir.path().join("v.npub").to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&val).unwrap();
    assert_eq!(v["test_rows"], 1797);
    // Errors: a float model is needed, the budget must parse, the data must exist.
    let int8 = shared().join("models/generated/digits_cnn_int8.tflite");
    let bad = |extra: &[&str]| {
        let mut a = vec!["compress"];
        a.extend_from_slice(extra);
        let o = nnopt(&a);
        assert!(!o.status.success(), "{extra:?} succeeded");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = bad(&[int8.to_str().unwrap(), "--budget", "2KiB", "--data", csv_s]);
    assert!(err.contains("float model"), "{err}");
    let err = bad(&[model.to_str().unwrap(), "--budget", "2kb", "--data", csv_s]);
    assert!(err.contains("not a size"), "{err}");
    let err = bad(&[
        model.to_str().unwrap(),
        "--budget",
        "2KiB",
        "--data",
        "/nonexistent.csv",
    ]);
    assert!(err.contains("nonexistent.csv"), "{err}");
    let err = bad(&[
        model.to_str().unwrap(),
        "--budget",
        "2KiB",
        "--data-dir",
        csv_s,
    ]);
    assert!(err.contains("not a directory"), "{err}");
}

#[test]
fn udc_search_runs_as_a_pass() {
    let (Some(model), Some(csv)) = (
        digits_model(),
        require(&shared().join("data/digits.csv.gz")),
    ) else {
        return;
    };
    let dir = tempdir();
    let pipeline = dir.path().join("udc.yaml");
    let yaml = format!(
        "name: udc\npasses:\n  - shape-inference\n  - name: udc-search\n    options: {{ budget: 2500, data: {}, epochs: 2, finetune_epochs: 1, learning_rate: 0.005 }}\n",
        csv.display()
    );
    std::fs::write(&pipeline, yaml).unwrap();
    let mut g = nnopt::load_model(&model).unwrap();
    nnopt::optimize(&mut g, Some(&pipeline), &Default::default()).unwrap();
    let bytes: usize = weight_blocks(&g).unwrap().iter().map(|b| b.1).sum();
    assert!(bytes <= 2500 && bytes > 1500, "{bytes}");
    // Options are checked: one data source, a budget.
    let bad = "name: udc\npasses:\n  - name: udc-search\n    options: { budget: 2500 }\n";
    std::fs::write(&pipeline, bad).unwrap();
    let err = nnopt::optimize(&mut g, Some(&pipeline), &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("data"), "{err}");
}

#[test]
fn baselines_that_cannot_meet_the_budget_are_reported() {
    let (Some(model), Some(data)) = (digits_model(), digits_data()) else {
        return;
    };
    let g = nnopt::load_model(&model).unwrap();
    // Every layer at 2 bits and dense is over 1,100 bytes: greedy bits cannot get there.
    let c = compress(&g, &data, &short(1100, true), &Progress::silent()).unwrap();
    let r = &c.report;
    assert!(r.after.bytes <= 1100);
    let names: Vec<&str> = r
        .unreachable_baselines
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    assert_eq!(names, ["greedy bits"], "{r:?}");
    assert!(r.unreachable_baselines[0]
        .reason
        .contains("every layer at 2 bits"));
    assert_eq!(r.baselines.len(), 2);
}
