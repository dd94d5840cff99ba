//! Output SNR of MediaPipe float models quantized to int8, FP8 E4M3 and FP8 E5M2
//! (weights per channel, activations per tensor) against their FP32 run, calibrated and
//! evaluated on different crops of the real photos in `shared/data` (written as PNG files
//! and read back through `nnopt::calibration`, like `--calibration DIR`), with minmax
//! calibration. The lower bounds are the measured minimum over each model's outputs less
//! a margin (the crops show no faces, eyes or hands, so the detectors' outputs are far
//! from their trained operating points).

mod common;

use image::DynamicImage;
use nnopt::calibration::{load_calibration, CalibrationArgs, CalibrationData};
use nnopt::compiler::fp8::Fp8Format;
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::passes::quantize_int8::quantize_int8;
use nnopt::passes::quantize_int8::Calibration;
use nnopt::passes::{quantize_fp8, Fp8Options};
use std::path::Path;

/// Crop boxes as fractions `(x, y, size)` of the shorter image side.
const CALIBRATION_CROPS: [(f32, f32, f32); 4] = [
    (0.0, 0.0, 1.0),
    (0.1, 0.2, 0.6),
    (0.4, 0.1, 0.5),
    (0.3, 0.35, 0.4),
];
const EVALUATION_CROPS: [(f32, f32, f32); 2] = [(0.2, 0.1, 0.7), (0.45, 0.3, 0.45)];

/// Writes the crops of both photos as PNG files into `dir`.
fn write_crops(photos: &[DynamicImage], crops: &[(f32, f32, f32)], dir: &Path) {
    std::fs::create_dir_all(dir).expect("crop folder");
    for (i, img) in photos.iter().enumerate() {
        let side = img.width().min(img.height()) as f32;
        for (j, &(x, y, s)) in crops.iter().enumerate() {
            let size = (side * s) as u32;
            let x0 = ((img.width() - size) as f32 * x) as u32;
            let y0 = ((img.height() - size) as f32 * y) as u32;
            img.crop_imm(x0, y0, size, size)
                .save(dir.join(format!("{i}_{j}.png")))
                .expect("crop written");
        }
    }
}

/// Signal-to-noise ratio in dB of `test` against `reference`.
fn snr_db(reference: &[f64], test: &[f64]) -> f64 {
    let signal: f64 = reference.iter().map(|v| v * v).sum();
    let noise: f64 = reference
        .iter()
        .zip(test)
        .map(|(a, b)| (a - b) * (a - b))
        .sum();
    10.0 * (signal / noise.max(1e-30)).log10()
}

/// Outputs of every sample, concatenated per graph output.
fn outputs(g: &nnopt::compiler::ir::Graph, samples: &[Vec<Tensor>]) -> Vec<Vec<f64>> {
    let mut per_output: Vec<Vec<f64>> = vec![vec![]; g.outputs().len()];
    for s in samples {
        let out = interp::run(g, s).expect("model runs");
        for (acc, t) in per_output.iter_mut().zip(&out) {
            acc.extend(t.to_f64_vec());
        }
    }
    per_output
}

/// The model quantized to FP8 `format` (weights and activations) with `calib`.
fn fp8(float: &Graph, calib: &Calibration, format: Fp8Format) -> Graph {
    let mut g = float.clone();
    let opts = Fp8Options {
        format,
        ..Default::default()
    };
    let report = quantize_fp8(&mut g, calib, &opts).expect("quantizes to FP8");
    assert!(report.fp8_nodes > 0, "{report}");
    g
}

#[test]
fn mediapipe_models_keep_their_outputs_in_int8_and_fp8() {
    // (model, pixel range, lower bounds in dB for int8, E4M3, E5M2)
    let models = [
        ("face_detection_short_range", (-1.0, 1.0), [8.0, 10.0, 6.0]),
        ("iris_landmark", (0.0, 1.0), [25.0, 20.0, 20.0]),
        ("hand_landmark_lite", (0.0, 1.0), [3.0, 0.0, -8.0]),
        ("selfie_segmentation", (0.0, 1.0), [10.0, 15.0, 0.0]),
    ];
    let shared = common::shared();
    let Some(china) = common::require(&shared.join("data/china.jpg")) else {
        return;
    };
    let Some(flower) = common::require(&shared.join("data/flower.jpg")) else {
        return;
    };
    let photos: Vec<DynamicImage> = [china, flower]
        .iter()
        .map(|p| image::open(p).expect("photo decodes"))
        .collect();
    let dir = common::tempdir();
    let (calib_dir, eval_dir) = (dir.path().join("calib"), dir.path().join("eval"));
    write_crops(&photos, &CALIBRATION_CROPS, &calib_dir);
    write_crops(&photos, &EVALUATION_CROPS, &eval_dir);
    println!("| model | output | int8 SNR (dB) | E4M3 SNR (dB) | E5M2 SNR (dB) |");
    println!("|---|---|---|---|---|");
    for (name, pixel_range, bounds) in models {
        let Some(path) = common::require(&shared.join(format!("models/{name}.tflite"))) else {
            continue;
        };
        let float = nnopt::load_model(&path).expect("model loads");
        let args = |p: &Path| CalibrationArgs {
            data: CalibrationData {
                calibration: vec![p.to_path_buf()],
                pixel_range,
                ..Default::default()
            },
            ..Default::default()
        };
        let calib = load_calibration(&float, &args(&calib_dir).data).expect("calibration loads");
        assert_eq!(calib.samples.len(), 8);
        let eval = load_calibration(&float, &args(&eval_dir).data).expect("evaluation loads");
        let reference = outputs(&float, &eval.samples);
        let mut int8 = float.clone();
        let report = quantize_int8(&mut int8, &calib, &args(&calib_dir).quantize_options())
            .expect("quantizes");
        assert!(report.float_nodes.is_empty(), "{name}: {report}");
        let quantized = [
            outputs(&int8, &eval.samples),
            outputs(&fp8(&float, &calib, Fp8Format::E4M3), &eval.samples),
            outputs(&fp8(&float, &calib, Fp8Format::E5M2), &eval.samples),
        ];
        for (k, &o) in float.outputs().iter().enumerate() {
            let out_name = &float.value(o).name;
            let snr: Vec<f64> = quantized
                .iter()
                .map(|q| snr_db(&reference[k], &q[k]))
                .collect();
            println!(
                "| {name} | {out_name} | {:.1} | {:.1} | {:.1} |",
                snr[0], snr[1], snr[2]
            );
            for ((label, v), min) in ["int8", "E4M3", "E5M2"].iter().zip(&snr).zip(bounds) {
                assert!(
                    *v >= min,
                    "{name}/{out_name}: {label} SNR {v:.1} dB below {min}"
                );
            }
        }
    }
}
