//! Output SNR of int8-quantized MediaPipe float models against their FP32 run, calibrated
//! and evaluated on different crops of the real photos in `shared/data` (written as PNG
//! files and read back through `nnopt::calibration`, like `--calibration DIR`), with
//! minmax calibration. The lower bounds are the measured minimum over each model's
//! outputs less a margin (the crops show no faces, eyes or hands, so the detectors'
//! outputs are far from their trained operating points).

mod common;

use image::DynamicImage;
use nnopt::calibration::{load_calibration, CalibrationArgs, CalibrationData};
use nnopt::compiler::interp;
use nnopt::compiler::ir::Tensor;
use nnopt::passes::quantize_int8::quantize_int8;
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

#[test]
fn mediapipe_models_keep_their_outputs_in_int8() {
    let models = [
        ("face_detection_short_range", (-1.0, 1.0), 8.0),
        ("iris_landmark", (0.0, 1.0), 25.0),
        ("hand_landmark_lite", (0.0, 1.0), 3.0),
        ("selfie_segmentation", (0.0, 1.0), 10.0),
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
    println!("| model | output | SNR (dB) |");
    println!("|---|---|---|");
    for (name, pixel_range, min_snr) in models {
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
        let mut g = float.clone();
        let report =
            quantize_int8(&mut g, &calib, &args(&calib_dir).quantize_options()).expect("quantizes");
        assert!(report.float_nodes.is_empty(), "{name}: {report}");
        let int8 = outputs(&g, &eval.samples);
        for (k, &o) in float.outputs().iter().enumerate() {
            let out_name = &float.value(o).name;
            let snr = snr_db(&reference[k], &int8[k]);
            println!("| {name} | {out_name} | {snr:.1} |");
            assert!(
                snr >= min_snr,
                "{name}/{out_name}: SNR {snr:.1} dB below {min_snr}"
            );
        }
    }
}
