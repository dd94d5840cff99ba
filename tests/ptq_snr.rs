//! Output SNR of MediaPipe float models quantized to int8, FP8 E4M3 and FP8 E5M2
//! (weights per channel, activations per tensor), and compiled to int8 NPU binaries run on
//! the virtual NPU, against their FP32 run, calibrated and
//! evaluated on different crops of the real photos in `shared/data` (written as PNG files
//! and read back through `nnopt::calibration`, like `--calibration DIR`), with minmax
//! calibration. The lower bounds are the measured minimum over each model's outputs less
//! a margin (the crops show no faces, eyes or hands, so the detectors' outputs are far
//! from their trained operating points).

mod common;

use image::DynamicImage;
use nnopt::backends::npu::binary;
use nnopt::backends::npu::target::Target;
use nnopt::backends::npu::vnpu;
use nnopt::calibration::{load_calibration, CalibrationArgs, CalibrationData};
use nnopt::compile::{compile_npu, NpuOptions, Precision};
use nnopt::compiler::fp8::Fp8Format;
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::passes::quantize_int8::quantize_int8;
use nnopt::passes::quantize_int8::Calibration;
use nnopt::passes::{quantize_fp8, Fp8Options};
use std::path::{Path, PathBuf};

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

/// The real photos cropped into calibration and evaluation folders, or `None` (a notice,
/// or a failure in CI) when the photos are missing.
fn photo_crops() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    let shared = common::shared();
    let china = common::require(&shared.join("data/china.jpg"))?;
    let flower = common::require(&shared.join("data/flower.jpg"))?;
    let photos: Vec<DynamicImage> = [china, flower]
        .iter()
        .map(|p| image::open(p).expect("photo decodes"))
        .collect();
    let dir = common::tempdir();
    let (calib_dir, eval_dir) = (dir.path().join("calib"), dir.path().join("eval"));
    write_crops(&photos, &CALIBRATION_CROPS, &calib_dir);
    write_crops(&photos, &EVALUATION_CROPS, &eval_dir);
    Some((dir, calib_dir, eval_dir))
}

/// Calibration flags reading the crops in `dir` with the model's pixel range.
fn crop_args(dir: &Path, pixel_range: (f32, f32)) -> CalibrationArgs {
    CalibrationArgs {
        data: CalibrationData {
            calibration: vec![dir.to_path_buf()],
            pixel_range,
            ..Default::default()
        },
        ..Default::default()
    }
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
    let Some((_dir, calib_dir, eval_dir)) = photo_crops() else {
        return;
    };
    println!("| model | output | int8 SNR (dB) | E4M3 SNR (dB) | E5M2 SNR (dB) |");
    println!("|---|---|---|---|---|");
    for (name, pixel_range, bounds) in models {
        let Some(path) = common::require(&common::shared().join(format!("models/{name}.tflite")))
        else {
            continue;
        };
        let float = nnopt::load_model(&path).expect("model loads");
        let calib = load_calibration(&float, &crop_args(&calib_dir, pixel_range).data)
            .expect("calibration loads");
        assert_eq!(calib.samples.len(), 8);
        let eval = load_calibration(&float, &crop_args(&eval_dir, pixel_range).data)
            .expect("evaluation loads");
        let reference = outputs(&float, &eval.samples);
        let mut int8 = float.clone();
        let options = crop_args(&calib_dir, pixel_range).quantize_options();
        let report = quantize_int8(&mut int8, &calib, &options).expect("quantizes");
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

/// `nnopt compile --target npu --calibration CROPS` on the MediaPipe float models: the
/// binary, read back and run on the virtual NPU over the evaluation crops, equals the
/// interpreter on the compiled graph bit for bit; its outputs' SNR against FP32 is the
/// NPU path's figure.
#[test]
fn mediapipe_models_on_the_virtual_npu() {
    // (model, pixel range, lower bound in dB, CPU fallbacks)
    let models = [
        ("face_detection_short_range", (-1.0, 1.0), 8.0, 0),
        ("iris_landmark", (0.0, 1.0), 25.0, 0),
        ("hand_landmark_lite", (0.0, 1.0), 3.0, 0),
        ("selfie_segmentation", (0.0, 1.0), 10.0, 0),
    ];
    let Some((_dir, calib_dir, eval_dir)) = photo_crops() else {
        return;
    };
    println!("| model | output | NPU int8 SNR (dB) | NPU cycles | CPU cycles | CPU fallbacks |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, pixel_range, bound, fallbacks) in models {
        let Some(path) = common::require(&common::shared().join(format!("models/{name}.tflite")))
        else {
            continue;
        };
        let float = nnopt::load_model(&path).expect("model loads");
        let options = NpuOptions {
            target: Target::preset("npu").expect("preset"),
            precision: Precision::Int8,
            cpu_fallback: true,
            calibration: crop_args(&calib_dir, pixel_range),
            pipeline: None,
        };
        let c = compile_npu(float.clone(), &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (program, _) = binary::read(&c.binary).unwrap_or_else(|e| panic!("{name}: {e}"));
        let eval = load_calibration(&float, &crop_args(&eval_dir, pixel_range).data)
            .expect("evaluation loads");
        let reference = outputs(&float, &eval.samples);
        let mut npu: Vec<Vec<f64>> = vec![vec![]; float.outputs().len()];
        for x in &eval.samples {
            let got = vnpu::run(&program, x).unwrap_or_else(|e| panic!("{name}: {e}"));
            let want = interp::run(&c.graph, x).expect("compiled graph runs");
            assert_eq!(
                got, want,
                "{name}: virtual NPU differs from the interpreter"
            );
            for (acc, t) in npu.iter_mut().zip(&got) {
                acc.extend(t.to_f64_vec());
            }
        }
        for (k, &o) in float.outputs().iter().enumerate() {
            let out_name = &float.value(o).name;
            let snr = snr_db(&reference[k], &npu[k]);
            println!(
                "| {name} | {out_name} | {snr:.1} | {} | {} | {} |",
                c.estimate.npu_cycles,
                c.estimate.cpu_cycles,
                c.lowering.fallbacks.len()
            );
            assert!(
                snr >= bound,
                "{name}/{out_name}: NPU SNR {snr:.1} dB below {bound}"
            );
        }
        assert_eq!(
            c.lowering.fallbacks.len(),
            fallbacks,
            "{name}: {:?}",
            c.lowering.fallbacks
        );
    }
}
