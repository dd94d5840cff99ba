//! INT8 post-training quantization accuracy on the digits CNNs: the quantized float
//! models must be at least as accurate as TensorFlow's own int8 model on a held-out split
//! and agree with the FP32 run on at least 99 % of it.
//!
//! Split of `testdata/digits` (1797 rows): rows with `index % 5 == 0` calibrate (360
//! rows), the other 1437 rows are held out.

mod common;

use common::digits::{argmax, fraction, load_digits, predict};
use ndarray::Axis;
use nnopt::compiler::ir::{Graph, Layout, Op, Tensor};
use nnopt::passes::quantize_int8::{
    quantize_int8, Calibration, CalibrationMethod, QuantizeOptions,
};
use std::path::{Path, PathBuf};

fn is_calibration_row(i: usize) -> bool {
    i.is_multiple_of(5)
}

/// Quantizes `float` with each method, prints accuracy and FP32 agreement on the
/// held-out rows, and checks the default (minmax) against TensorFlow's int8 model.
fn check_model(name: &str, float: &Graph, layout: &dyn Fn(&Tensor) -> Tensor) {
    let Some(dir) = common::require(&common::testdata().join("digits")) else {
        return;
    };
    let d = load_digits(&dir);
    let (calib_rows, held): (Vec<usize>, Vec<usize>) =
        (0..d.images.len()).partition(|&i| is_calibration_row(i));
    let calib = Calibration::new(
        calib_rows
            .iter()
            .map(|&i| vec![layout(&d.images[i])])
            .collect(),
    );
    let held_images: Vec<&Tensor> = held.iter().map(|&i| &d.images[i]).collect();
    let correct = |pred: &[i64]| {
        held.iter()
            .zip(pred)
            .filter(|(&i, &p)| d.labels[i] == p)
            .count()
    };
    let fp32 = predict(float, &held_images, layout);
    let tf_int8: Vec<i64> = held.iter().map(|&i| d.tf_int8_pred[i]).collect();
    let n = held.len();
    let tf_acc = fraction(correct(&tf_int8), n);
    println!(
        "{name}: held-out {n} rows, calibration {} rows",
        calib.samples.len()
    );
    println!(
        "  FP32 (nnopt interpreter)      top-1 {:.4}",
        fraction(correct(&fp32), n)
    );
    println!("  TensorFlow int8 (LiteRT)      top-1 {tf_acc:.4}");
    for method in [
        CalibrationMethod::Minmax,
        CalibrationMethod::Percentile,
        CalibrationMethod::Mse,
    ] {
        let mut g = float.clone();
        let opts = QuantizeOptions {
            method,
            ..Default::default()
        };
        let report = quantize_int8(&mut g, &calib, &opts).expect("quantizes");
        assert!(report.float_nodes.is_empty(), "{report}");
        let int8 = predict(&g, &held_images, layout);
        let acc = fraction(correct(&int8), n);
        let agree = fraction(int8.iter().zip(&fp32).filter(|(a, b)| a == b).count(), n);
        println!("  nnopt int8 ({method:<10})     top-1 {acc:.4}, agreement with FP32 {agree:.4}");
        if method == CalibrationMethod::Minmax {
            assert!(
                acc >= tf_acc,
                "{name}: int8 accuracy {acc} below TensorFlow's {tf_acc}"
            );
            assert!(agree >= 0.99, "{name}: agreement with FP32 {agree}");
        }
    }
}

/// The graph is fully int8 between one Quantize and one Dequantize.
fn assert_int8_form(g: &Graph) {
    let count = |f: &dyn Fn(&Op) -> bool| {
        g.node_indices()
            .into_iter()
            .filter(|&n| f(&g.node(n).op))
            .count()
    };
    assert_eq!(count(&|op| matches!(op, Op::Quantize { .. })), 1);
    assert_eq!(count(&|op| matches!(op, Op::Dequantize)), 1);
}

/// The float model at `path` and its graph, or `None` when it is missing.
fn float_model(path: &Path) -> Option<(PathBuf, Graph)> {
    let model = common::require(path)?;
    let float = nnopt::load_model(&model).expect("model loads");
    Some((model, float))
}

/// Whether some node of `g` has an op for which `f` holds.
fn has_op(g: &Graph, f: impl Fn(&Op) -> bool) -> bool {
    g.node_indices().iter().any(|&n| f(&g.node(n).op))
}

/// One channel: NHWC [1, 8, 8, 1] and NCHW [1, 1, 8, 8] hold the same sequence.
fn nchw(x: &Tensor) -> Tensor {
    x.reshaped(&[1, 1, 8, 8]).expect("64 pixels")
}

/// `float` quantized to int8, calibrated on the first digits image in `layout`, has the
/// int8 form (skipped without testdata/digits).
fn assert_quantizes_to_int8_form(float: &Graph, layout: &dyn Fn(&Tensor) -> Tensor) {
    let Some(dir) = common::require(&common::testdata().join("digits")) else {
        return;
    };
    let mut g = float.clone();
    let calib = Calibration::new(vec![vec![layout(&load_digits(&dir).images[0])]]);
    quantize_int8(&mut g, &calib, &QuantizeOptions::default()).expect("quantizes");
    assert_int8_form(&g);
}

#[test]
fn digits_tflite_int8_matches_tensorflow() {
    let Some((_, float)) =
        float_model(&common::shared().join("models/generated/digits_cnn_float.tflite"))
    else {
        return;
    };
    check_model("digits_cnn_float.tflite", &float, &|x| x.clone());
    assert_quantizes_to_int8_form(&float, &|x| x.clone());
}

#[test]
fn digits_onnx_nchw_int8_matches_tensorflow() {
    let Some((_, float)) = float_model(&common::testdata().join("digits/digits_cnn.onnx")) else {
        return;
    };
    assert!(
        has_op(&float, |op| matches!(op, Op::BatchNorm { .. })),
        "the ONNX model has a batch norm to fold"
    );
    check_model("digits_cnn.onnx (NCHW)", &float, &nchw);
    assert_quantizes_to_int8_form(&float, &nchw);
}

/// `nnopt compile --target npu --calibration calib.npy` on a float digits model whose
/// input is `layout` of an NHWC image: the binary, run on the virtual NPU over the
/// held-out rows, is at least as accurate as TensorFlow's int8 model and agrees with FP32
/// on at least 99 % of them.
fn assert_npu_keeps_accuracy(name: &str, model: &Path, layout: &dyn Fn(&Tensor) -> Tensor) {
    use nnopt::backends::npu::{binary, target::Target, vnpu};
    use nnopt::compile::{compile_npu, NpuOptions};
    let Some(dir) = common::require(&common::testdata().join("digits")) else {
        return;
    };
    let float = nnopt::load_model(model).expect("float digits model");
    let d = load_digits(&dir);
    let (calib_rows, held): (Vec<usize>, Vec<usize>) =
        (0..d.images.len()).partition(|&i| is_calibration_row(i));
    let calib_images: Vec<Tensor> = calib_rows.iter().map(|&i| layout(&d.images[i])).collect();
    let views: Vec<_> = calib_images
        .iter()
        .map(|x| x.as_f32().expect("f32").view())
        .collect();
    let stacked = ndarray::concatenate(Axis(0), &views).expect("same shapes");
    let tmp = common::tempdir();
    let calib = tmp.path().join("calib.npy");
    nnopt::npy::write_npy(&calib, &Tensor::F32(stacked)).expect("write calibration");
    let opts = NpuOptions {
        target: Target::preset("npu").unwrap(),
        precision: Default::default(),
        cpu_fallback: true,
        calibration: nnopt::calibration::CalibrationArgs {
            data: nnopt::calibration::CalibrationData {
                calibration: vec![calib],
                ..Default::default()
            },
            ..Default::default()
        },
        pipeline: None,
    };
    let c = compile_npu(float.clone(), &opts).expect("compiles");
    assert!(
        c.quantization.warnings.is_empty(),
        "{name}: {:?}",
        c.quantization.warnings
    );
    assert!(
        c.lowering.fallbacks.is_empty(),
        "{name}: {:?}",
        c.lowering.fallbacks
    );
    let (p, _) = binary::read(&c.binary).expect("binary reads back");
    let held_images: Vec<&Tensor> = held.iter().map(|&i| &d.images[i]).collect();
    let npu: Vec<i64> = held_images
        .iter()
        .map(|x| argmax(&vnpu::run(&p, &[layout(x)]).expect("runs")[0]))
        .collect();
    let fp32 = predict(&float, &held_images, layout);
    let n = held.len();
    let correct = |pred: &[i64]| {
        held.iter()
            .zip(pred)
            .filter(|(&i, &p)| d.labels[i] == p)
            .count()
    };
    let tf: Vec<i64> = held.iter().map(|&i| d.tf_int8_pred[i]).collect();
    let (acc, tf_acc) = (fraction(correct(&npu), n), fraction(correct(&tf), n));
    let agree = fraction(npu.iter().zip(&fp32).filter(|(a, b)| a == b).count(), n);
    println!(
        "{name} on the virtual NPU: top-1 {acc:.4} (TensorFlow int8 {tf_acc:.4}, FP32 {:.4}), agreement with FP32 {agree:.4}",
        fraction(correct(&fp32), n)
    );
    assert!(
        acc >= tf_acc,
        "{name}: NPU accuracy {acc} below TensorFlow int8's {tf_acc}"
    );
    assert!(agree >= 0.99, "{name}: agreement with FP32 {agree}");
}

#[test]
fn float_digits_compiled_to_npu_keep_accuracy() {
    let model = common::repo().join("examples/models/digits_cnn_float.tflite");
    assert_npu_keeps_accuracy("digits_cnn_float.tflite", &model, &|x| x.clone());
}

/// The same network as a float ONNX model made by a third-party converter (tflite2onnx,
/// NCHW, opset 11), compiled for the NPU with nnopt's PTQ.
#[test]
fn float_onnx_digits_compiled_to_npu_keep_accuracy() {
    let Some((model, float)) =
        float_model(&common::testdata().join("digits/digits_cnn_tflite2onnx.onnx"))
    else {
        return;
    };
    assert!(
        has_op(
            &float,
            |op| matches!(op, Op::Conv(c) if c.layout == Layout::Nchw)
        ),
        "the converted model has NCHW convolutions"
    );
    assert_npu_keeps_accuracy("digits_cnn_tflite2onnx.onnx (NCHW)", &model, &nchw);
}
