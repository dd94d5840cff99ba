//! Binary networks and neuron noise: training the bundled binary MLP
//! (`examples/models/digits_bnn.nnir`) with the straight-through estimator on the bundled
//! digits, noise injection (ε = 0 is the noiseless network, results independent of the
//! thread count), measured information under its bounds, and `nnopt analyze-noise`'s
//! errors.

mod common;

use common::*;
use nnopt::compiler::interp::{BinaryNoise, Session};
use nnopt::noise::{sweep, NoiseSweep, SweepOptions};
use nnopt::passes::{with_batch, TrainPrecision};
use nnopt::train::data::{load_dataset, Dataset};
use nnopt::train::runtime::{evaluate, Client};
use nnopt::train::{CompileOptions, Optimizer, OptimizerKind, TrainingProgram};
use std::path::{Path, PathBuf};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn digits() -> Dataset {
    load_dataset(&repo("examples/data/digits.csv.gz")).expect("bundled digits load")
}

/// The bundled binary MLP trained from fresh weights (seed 0, AdamW) for `epochs`
/// epochs; returns the program, the trained graph and the test losses before and after.
fn trained(data: &Dataset, epochs: usize) -> (nnopt::compiler::ir::Graph, f64, f64, f64) {
    let forward = nnopt::load_model(&repo("examples/models/digits_bnn.nnir")).expect("model");
    let program = TrainingProgram::compile(
        &forward,
        &CompileOptions {
            precision: TrainPrecision::Fp32,
            optimizer: Optimizer::defaults(OptimizerKind::AdamW),
            reinit: Some(0),
            ..Default::default()
        },
    )
    .expect("a binary MLP compiles into a training program");
    // Binarized weights are parameters too.
    let names: Vec<&str> = program.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["w1", "b1", "w2", "b2", "wo", "bo"]);
    let mut client = Client::new(&program, TrainPrecision::Fp32, 0).expect("client");
    let before =
        evaluate(&program, client.params(), &data.samples, &data.test_rows).expect("evaluates");
    for _ in 0..epochs {
        client
            .train_epoch(&data.samples, &data.train_rows)
            .expect("an epoch");
    }
    let after =
        evaluate(&program, client.params(), &data.samples, &data.test_rows).expect("evaluates");
    // The straight-through estimator reaches the binarized weights: some ±1 weights flip.
    let signs = |t: &nnopt::compiler::ir::Tensor| -> Vec<bool> {
        t.to_f64_vec().iter().map(|&v| v >= 0.0).collect()
    };
    let start = program.initial_params().expect("initial values");
    for k in [0, 2] {
        let flipped = signs(&start[k])
            .iter()
            .zip(signs(&client.params()[k]))
            .filter(|(a, b)| **a != *b)
            .count();
        assert!(flipped > 0, "no sign of {} changed", program.params[k].name);
    }
    let g = program
        .forward_with(client.params())
        .expect("trained graph");
    (g, before.loss, after.loss, after.accuracy)
}

fn measure(g: &nnopt::compiler::ir::Graph, data: &Dataset, eps: &[f64]) -> NoiseSweep {
    let opts = SweepOptions {
        flip_probs: eps.to_vec(),
        classes: None,
        target_error: 0.1,
        repeats: 20,
        seed: 3,
    };
    sweep(g, Some((&data.samples, &data.test_rows)), &opts).expect("sweep")
}

#[test]
fn a_binary_mlp_trains_and_its_measured_information_is_under_the_bounds() {
    let data = digits();
    let (g, before, after, accuracy) = trained(&data, 2);
    assert!(after < 0.8 * before, "test loss {before} -> {after}");
    assert!(accuracy > 0.6, "accuracy after 2 epochs {accuracy}");
    let s = measure(&g, &data, &[0.0, 0.1, 0.3, 0.45]);
    let m0 = s.points[0].measured.as_ref().expect("measured");
    // Without noise the measurement is the network's own accuracy.
    assert!(
        (m0.accuracy - accuracy).abs() < 1e-12,
        "{} vs {accuracy}",
        m0.accuracy
    );
    for p in &s.points {
        let m = p.measured.as_ref().expect("measured");
        assert!(
            m.under_bound,
            "eps {}: plug-in {} bits over the bound {} / {}",
            p.bounds.flip_prob,
            m.mi_plug_in_bits,
            m.percolation_bound_bits,
            m.evans_schulman_bound_bits
        );
        assert_eq!(m.samples, 20 * data.test_rows.len() as u64);
    }
    // Noise costs accuracy and information.
    let accuracies: Vec<f64> = s
        .points
        .iter()
        .map(|p| p.measured.as_ref().expect("measured").accuracy)
        .collect();
    assert!(accuracies.windows(2).all(|w| w[1] < w[0]), "{accuracies:?}");
}

#[test]
fn noise_is_exact_at_zero_and_independent_of_threads() {
    let g = nnopt::load_model(&repo("examples/models/digits_bnn.nnir")).expect("model");
    let data = digits();
    let batched = with_batch(&g, 8).expect("batch 8");
    let rows: Vec<usize> = data.test_rows[..8].to_vec();
    let (x, _) = data.samples.batch(&rows, &[8, 64]).expect("batch");
    let session = Session::new(&batched);
    let clean = session.run(std::slice::from_ref(&x)).expect("runs");
    let noise = |flip_prob| BinaryNoise {
        flip_prob,
        seed: 5,
        first_sample: 0,
    };
    let zero = session
        .run_noisy(std::slice::from_ref(&x), &noise(0.0))
        .expect("runs");
    assert_eq!(clean, zero);
    let noisy = session
        .run_noisy(std::slice::from_ref(&x), &noise(0.2))
        .expect("runs");
    assert_ne!(clean, noisy);
    let again = session
        .run_noisy(std::slice::from_ref(&x), &noise(0.2))
        .expect("runs");
    assert_eq!(noisy, again);
    // Whole sweeps on 1 and 3 threads count the same predictions.
    let on = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
            .install(|| measure(&g, &data, &[0.2]))
    };
    assert_eq!(on(1), on(3));
}

#[test]
fn analyze_noise_errors_name_the_file_and_reason() {
    let dir = tempdir();
    let bnn = repo("examples/models/digits_bnn.nnir");
    let bnn = bnn.to_str().expect("utf-8 path");
    let fails = |args: &[&str], wants: &[&str]| {
        let out = nnopt(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        for w in wants {
            assert!(err.contains(w), "{args:?}: '{w}' not in {err}");
        }
    };
    let missing = dir.path().join("missing.nnir");
    let missing = missing.to_str().expect("utf-8");
    fails(
        &["analyze-noise", missing, "--flip-prob", "0.1"],
        &["missing.nnir"],
    );
    fails(
        &["analyze-noise", bnn, "--flip-prob", "0.1,0.7"],
        &["0.7", "[0, 0.5]"],
    );
    let float = dir.path().join("float.nnir");
    let text = std::fs::read_to_string(bnn)
        .expect("model")
        .replace(r#"{"act":"binarize"}(%z"#, r#"{"act":"relu"}(%z"#);
    std::fs::write(&float, text).expect("write");
    fails(
        &[
            "analyze-noise",
            float.to_str().expect("utf-8"),
            "--flip-prob",
            "0.1",
        ],
        &["float.nnir", "no binary neurons"],
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "1,2,3\n4,5,6\n").expect("write");
    let bad = bad.to_str().expect("utf-8");
    fails(
        &["analyze-noise", bnn, "--flip-prob", "0.1", "--data", bad],
        &["bad.csv"],
    );
    // The bounds alone, as JSON, and an HTML report.
    let report = dir.path().join("noise.html");
    let out = nnopt_ok(&[
        "analyze-noise",
        bnn,
        "--flip-prob",
        "0,0.3",
        "--json",
        "--report",
        report.to_str().expect("utf-8"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["widths"], serde_json::json!([32, 32]));
    assert_eq!(v["points"][1]["bounds"]["min_width"], 12);
    assert!(std::fs::read_to_string(&report)
        .expect("report written")
        .contains("<svg"));
}

#[test]
fn binarize_exports_to_onnx_and_is_refused_by_name_elsewhere() {
    let dir = tempdir();
    let g = nnopt::load_model(&repo("examples/models/digits_bnn.nnir")).expect("model");
    // ONNX: Where(x < 0, -1, 1), which reads back to the same outputs.
    let onnx = dir.path().join("bnn.onnx");
    let bytes = nnopt::export(&g, nnopt::ModelFormat::Onnx).expect("ONNX export");
    std::fs::write(&onnx, bytes).expect("write");
    let back = nnopt::load_model(&onnx).expect("reads back");
    let data = digits();
    let rows: Vec<usize> = data.test_rows[..16].to_vec();
    for &r in &rows {
        let (x, _) = data.samples.batch(&[r], &[1, 64]).expect("a sample");
        let want = nnopt::run(&g, std::slice::from_ref(&x)).expect("runs");
        let got = nnopt::run(&back, std::slice::from_ref(&x)).expect("runs");
        assert_eq!(want, got, "sample {r}");
    }
    let e = nnopt::export(&g, nnopt::ModelFormat::Tflite).unwrap_err();
    assert!(e.to_string().contains("Binarize"), "{e}");
    let bnn = repo("examples/models/digits_bnn.nnir");
    let npub = dir.path().join("bnn.npub");
    let out = nnopt_ok(&[
        "compile",
        bnn.to_str().expect("utf-8"),
        "-o",
        npub.to_str().expect("utf-8"),
    ]);
    assert!(out.contains("no binarize kernel"), "{out}");
}

#[test]
fn fl_simulate_saves_the_trained_model() {
    let dir = tempdir();
    let path = |name: &str| dir.path().join(name).to_str().expect("utf-8").to_string();
    let bnn = repo("examples/models/digits_bnn.nnir");
    let csv = repo("examples/data/digits.csv.gz");
    let (bnn, csv) = (bnn.to_str().expect("utf-8"), csv.to_str().expect("utf-8"));
    let program = path("bnn.ntp");
    nnopt_ok(&[
        "compile",
        bnn,
        "--target",
        "train",
        "--precision",
        "fp32",
        "--reinit",
        "--optimizer",
        "adamw",
        "-o",
        &program,
    ]);
    let saved = path("trained.nnir");
    let mut args = simulate_args(Path::new(&program), Path::new(csv), "1", "2");
    args.extend(["--server-optimizer", "fedavg", "--save", &saved, "--json"]);
    let out = nnopt_ok(&args);
    let sim: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    // The saved model is the final global model: its noiseless accuracy is the last round's.
    let out = nnopt_ok(&[
        "analyze-noise",
        &saved,
        "--flip-prob",
        "0",
        "--data",
        csv,
        "--repeats",
        "1",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        v["points"][0]["measured"]["accuracy"],
        sim["final_accuracy"]
    );
    // An unknown extension is refused before training.
    let out = nnopt(&[
        "fl",
        "simulate",
        "--program",
        &program,
        "--data",
        csv,
        "--rounds",
        "1",
        "--save",
        &path("trained.bin"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(".nnir, .onnx or .tflite"));
}
