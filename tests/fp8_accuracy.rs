//! FP8 post-training quantization accuracy on digits: the float digits CNN (trained with
//! TensorFlow, `shared/models/generated/digits_cnn_float.tflite`) and an MLP trained by
//! `tools/digits_mlp.py`, with E4M3 weights and activations, lose at most 0.5 points of
//! top-1 accuracy against FP32 on held-out rows. E5M2, weight-only E4M3 and int8 are
//! printed beside them.
//!
//! Splits of `testdata/digits` (1797 rows, file order). CNN: rows with `index % 5 == 0`
//! calibrate, the other 1437 are held out (as in `ptq_accuracy`). MLP: it trained on rows
//! with `index % 5` in {1, 2, 3}; rows with `index % 5 == 1` calibrate, rows with
//! `index % 5` in {0, 4} (719) are held out.

mod common;

use common::digits::{fraction, load_digits, predict, Digits};
use nnopt::compiler::fp8::Fp8Format;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::passes::quantize_int8::{quantize_int8, Calibration, QuantizeOptions};
use nnopt::passes::{quantize_fp8, Fp8Options};

struct Split {
    calib: Vec<usize>,
    held: Vec<usize>,
}

/// Top-1 accuracy of `g` on the held-out rows.
fn accuracy(g: &Graph, d: &Digits, split: &Split, layout: &dyn Fn(&Tensor) -> Tensor) -> f64 {
    let images: Vec<&Tensor> = split.held.iter().map(|&i| &d.images[i]).collect();
    let pred = predict(g, &images, layout);
    let hits = split
        .held
        .iter()
        .zip(&pred)
        .filter(|(&i, &p)| d.labels[i] == p)
        .count();
    fraction(hits, split.held.len())
}

/// Prints the accuracy of every precision and returns (FP32, E4M3) accuracies.
fn evaluate(
    name: &str,
    float: &Graph,
    d: &Digits,
    split: &Split,
    layout: &dyn Fn(&Tensor) -> Tensor,
) -> (f64, f64) {
    let calib = Calibration::new(
        split
            .calib
            .iter()
            .map(|&i| vec![layout(&d.images[i])])
            .collect(),
    );
    let fp32 = accuracy(float, d, split, layout);
    println!(
        "{name}: held-out {} rows, calibration {} rows",
        split.held.len(),
        split.calib.len()
    );
    println!("  | precision | top-1 | drop vs FP32 (points) |");
    println!("  |---|---|---|");
    println!("  | FP32 | {fp32:.4} | |");
    let row = |label: &str, acc: f64| {
        println!("  | {label} | {acc:.4} | {:.2} |", (fp32 - acc) * 100.0);
    };
    let mut e4m3 = 0.0;
    for (label, format, activations) in [
        ("E4M3 weights + activations", Fp8Format::E4M3, true),
        ("E5M2 weights + activations", Fp8Format::E5M2, true),
        ("E4M3 weights only", Fp8Format::E4M3, false),
    ] {
        let mut g = float.clone();
        let opts = Fp8Options {
            format,
            activations,
            ..Default::default()
        };
        let report = quantize_fp8(&mut g, &calib, &opts).expect("quantizes");
        assert!(report.float_nodes.is_empty(), "{name}: {report}");
        assert!(report.fp8_nodes >= 2, "{name}: {report}");
        let acc = accuracy(&g, d, split, layout);
        row(label, acc);
        if format == Fp8Format::E4M3 && activations {
            e4m3 = acc;
        }
    }
    let mut g = float.clone();
    quantize_int8(&mut g, &calib, &QuantizeOptions::default()).expect("int8");
    row("int8 (per-channel, minmax)", accuracy(&g, d, split, layout));
    (fp32, e4m3)
}

#[test]
fn digits_cnn_and_mlp_keep_accuracy_in_e4m3() {
    let Some(dir) = common::require(&common::testdata().join("digits")) else {
        return;
    };
    let Some(cnn) =
        common::require(&common::shared().join("models/generated/digits_cnn_float.tflite"))
    else {
        return;
    };
    let d = load_digits(&dir);
    let n = d.images.len();
    let cnn_split = Split {
        calib: (0..n).filter(|i| i % 5 == 0).collect(),
        held: (0..n).filter(|i| i % 5 != 0).collect(),
    };
    let float = nnopt::load_model(&cnn).expect("CNN loads");
    let (fp32, e4m3) = evaluate("digits_cnn_float.tflite", &float, &d, &cnn_split, &|x| {
        x.clone()
    });
    assert!(fp32 > 0.97, "CNN FP32 accuracy {fp32}");
    assert!(fp32 - e4m3 <= 0.005, "CNN: E4M3 {e4m3} vs FP32 {fp32}");

    let mlp = nnopt::load_model(&dir.join("digits_mlp.onnx")).expect("MLP loads");
    let mlp_split = Split {
        calib: (0..n).filter(|i| i % 5 == 1).collect(),
        held: (0..n).filter(|i| i % 5 == 0 || i % 5 == 4).collect(),
    };
    let flat = |x: &Tensor| x.reshaped(&[1, 64]).expect("64 pixels");
    let (fp32, e4m3) = evaluate("digits_mlp.onnx", &mlp, &d, &mlp_split, &flat);
    // The interpreter's FP32 accuracy is the trainer's own (numpy) figure.
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
            .expect("summary.json");
    let numpy = summary["mlp_heldout_accuracy"]
        .as_f64()
        .expect("numpy accuracy");
    assert!(
        (fp32 - numpy).abs() < 1.5 / 719.0,
        "FP32 {fp32} vs numpy {numpy}"
    );
    assert!(fp32 > 0.95, "MLP FP32 accuracy {fp32}");
    assert!(fp32 - e4m3 <= 0.005, "MLP: E4M3 {e4m3} vs FP32 {fp32}");
}
