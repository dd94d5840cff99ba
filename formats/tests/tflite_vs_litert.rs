//! nnopt's TFLite import and reference interpreter against LiteRT's outputs.
//!
//! int8 models must match LiteRT's own kernels bit for bit (`BUILTIN_REF` outputs, or the
//! builtin kernels where the reference kernels refuse the model); float models must agree
//! within a relative error of 1e-4.

mod common;

use common::litert::{available, load_cases, load_npy, models_dir, testdata_dir, Case};
use nnopt_compiler::interp::run;
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_formats::tflite::import_tflite_bytes;
use std::path::Path;

fn import(path: &Path) -> Graph {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    import_tflite_bytes(&bytes, stem)
        .unwrap_or_else(|e| panic!("{}: import failed: {e}", path.display()))
}

/// Max |a - b| over all elements (as f64), or None if shapes or dtypes differ.
fn max_abs_diff(a: &Tensor, b: &Tensor) -> Option<f64> {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return None;
    }
    Some(
        a.to_f64_vec()
            .iter()
            .zip(b.to_f64_vec())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max),
    )
}

/// The imported shared model `m` and its LiteRT reference folder, when both exist.
fn model_with_references(m: &str) -> Option<(Graph, std::path::PathBuf)> {
    let path = models_dir().join(format!("{m}.tflite"));
    let stem = Path::new(m)
        .file_name()
        .and_then(|s| s.to_str())
        .expect("stem");
    let data = testdata_dir().join("litert").join(stem);
    if !available(&path) || !available(&data.join("meta.json")) {
        return None;
    }
    Some((import(&path), data))
}

/// For each of `models` that has LiteRT references, runs `check` on its imported graph
/// and cases (it pushes mismatches to the failures and returns the model's table row);
/// then prints the table under `header` and fails, saying `what`, on any mismatch.
fn check_models(
    models: &[&str],
    header: &str,
    what: &str,
    mut check: impl FnMut(&str, &Graph, &[Case], &mut Vec<String>) -> String,
) {
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for &m in models {
        let Some((g, data)) = model_with_references(m) else {
            continue;
        };
        let cases = load_cases(&data, true);
        rows.push(check(m, &g, &cases, &mut failures));
    }
    println!("{header}");
    for r in &rows {
        println!("{r}");
    }
    assert!(failures.is_empty(), "{what}:\n{}", failures.join("\n"));
}

#[test]
fn int8_models_are_bit_exact_with_litert_kernels() {
    let models = [
        "micro_speech_quantized",
        "hello_world_int8",
        "generated/digits_cnn_int8",
        "generated/mobilenet_v2_035_96_int8",
    ];
    let header =
        "| model | cases | max abs diff | bit-exact | LiteRT kernels |\n|---|---|---|---|---|";
    check_models(&models, header, "not bit-exact", |m, g, cases, failures| {
        assert!(!cases.is_empty(), "{m}: no cases");
        let mut worst = 0.0f64;
        let mut resolvers = Vec::new();
        for c in cases {
            let got = run(g, &c.inputs).unwrap_or_else(|e| panic!("{m} case {}: {e}", c.k));
            assert_eq!(got.len(), c.outputs.len(), "{m}: output count");
            for (j, (a, b)) in got.iter().zip(&c.outputs).enumerate() {
                match max_abs_diff(a, b) {
                    Some(d) => {
                        worst = worst.max(d);
                        if d != 0.0 {
                            failures.push(format!(
                                "{m} case {} ({}) output {j}: max |diff| {d}",
                                c.k, c.description
                            ));
                        }
                    }
                    None => failures.push(format!(
                        "{m} case {} output {j}: got {}{:?}, LiteRT {}{:?}",
                        c.k,
                        a.dtype(),
                        a.shape(),
                        b.dtype(),
                        b.shape()
                    )),
                }
            }
            if !resolvers.contains(&c.resolver) {
                resolvers.push(c.resolver);
            }
        }
        format!(
            "| {m} | {} | {worst} | {} | {} |",
            cases.len(),
            if worst == 0.0 { "yes" } else { "no" },
            resolvers.join(", ")
        )
    });
}

#[test]
fn float_models_match_litert() {
    let models = [
        "face_detection_short_range",
        "iris_landmark",
        "hand_landmark_lite",
        "selfie_segmentation",
        "generated/digits_cnn_float",
    ];
    let header = "| model | cases | max rel error (max|diff| / max|LiteRT|) | bound | LiteRT kernels |\n|---|---|---|---|---|";
    check_models(
        &models,
        header,
        "float mismatch",
        |m, g, cases, failures| {
            // Float references come from LiteRT's reference kernels (for selfie_segmentation,
            // from a copy where make_testdata.py turned MediaPipe's custom transposed convolution
            // into the builtin TRANSPOSE_CONV). Data made before that only has XNNPACK outputs
            // for selfie_segmentation, which get a looser bound: its output is a sigmoid of
            // logits (up to ~860) whose float32 rounding reaches ~1e-3 near 0, so every float32
            // implementation (TFLite's reference kernels, XNNPACK, nnopt) is up to ~4e-4
            // (relative) off a float64 evaluation, and two of them can differ by twice that.
            let bound = if cases[0].resolver.starts_with("default") {
                1e-3
            } else {
                1e-4
            };
            let mut worst_rel = 0.0f64;
            for c in cases {
                let got = run(g, &c.inputs).unwrap_or_else(|e| panic!("{m} case {}: {e}", c.k));
                for (j, (a, b)) in got.iter().zip(&c.outputs).enumerate() {
                    let d = max_abs_diff(a, b).unwrap_or(f64::INFINITY);
                    let scale = b
                        .to_f64_vec()
                        .iter()
                        .fold(0.0f64, |m, v| m.max(v.abs()))
                        .max(1e-30);
                    let rel = d / scale;
                    worst_rel = worst_rel.max(rel);
                    if rel > bound {
                        failures.push(format!(
                            "{m} case {} output {j}: max |diff| {d:e}, relative {rel:e}",
                            c.k
                        ));
                    }
                }
            }
            format!(
                "| {m} | {} | {worst_rel:.3e} | {bound:e} | {} |",
                cases.len(),
                cases[0].resolver
            )
        },
    );
}

/// Top-1 accuracy of a digits model on testdata/digits, with LiteRT's for comparison.
fn digits_accuracy(model: &str, x_file: &str, key: &str) {
    let path = models_dir().join(format!("generated/{model}.tflite"));
    let dir = testdata_dir().join("digits");
    if !available(&path) || !available(&dir.join("summary.json")) {
        return;
    }
    let g = import(&path);
    let dtype = if x_file.contains("int8") {
        "int8"
    } else {
        "float32"
    };
    let x = load_npy(&dir.join(x_file), dtype);
    let Tensor::I64(y) = load_npy(&dir.join("test_y.npy"), "int64") else {
        unreachable!()
    };
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("summary"))
            .expect("json");
    let litert = summary[key]
        .as_f64()
        .expect("LiteRT accuracy in summary.json");
    let n = y.len();
    let rows = x.shape()[0];
    assert_eq!(rows, n);
    let mut correct = 0;
    for i in 0..n {
        let xi = match &x {
            Tensor::F32(a) => {
                Tensor::F32(a.slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned())
            }
            Tensor::I8(a) => {
                Tensor::I8(a.slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned())
            }
            _ => unreachable!(),
        };
        let out = run(&g, &[xi]).expect("digits run");
        let scores = out[0].to_f64_vec();
        let best = (0..scores.len()).fold(0, |b, k| if scores[k] > scores[b] { k } else { b });
        correct += usize::from(best as i64 == y[i]);
    }
    let acc = correct as f64 / n as f64;
    println!(
        "{model}: nnopt top-1 {:.2} % ({correct}/{n}), LiteRT {:.2} %",
        acc * 100.0,
        litert * 100.0
    );
    assert!(
        (acc - litert).abs() <= 0.002,
        "{model}: accuracy {acc} vs LiteRT {litert}"
    );
}

#[test]
fn digits_float_accuracy_matches_litert() {
    digits_accuracy("digits_cnn_float", "test_x.npy", "litert_float_accuracy");
}

#[test]
fn digits_int8_accuracy_matches_litert() {
    digits_accuracy("digits_cnn_int8", "test_x_int8.npy", "litert_int8_accuracy");
}

/// LiteRT refuses person_detect (per-axis quantized_dimension 3 on its biases); nnopt
/// loads it and its output must be a valid int8 softmax distribution.
#[test]
fn person_detect_runs_and_outputs_a_distribution() {
    let path = models_dir().join("person_detect.tflite");
    if !available(&path) {
        return;
    }
    let g = import(&path);
    let out_ty = g.ty(g.outputs()[0]).clone();
    let q = out_ty.quant.clone().expect("quantized output");
    let mut seed = 0x9e3779b97f4a7c15u64;
    for case in 0..3 {
        let input: Vec<i8> = (0..96 * 96)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if case == 0 {
                    0
                } else {
                    (seed >> 56) as u8 as i8
                }
            })
            .collect();
        let x = Tensor::I8(
            ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 96, 96, 1]), input).expect("shape"),
        );
        let out = run(&g, &[x]).expect("person_detect runs");
        let Tensor::I8(y) = &out[0] else {
            panic!("int8 output expected, got {}", out[0].dtype())
        };
        assert_eq!(y.shape(), &[1, 2]);
        let probs: Vec<f64> = y
            .iter()
            .map(|&v| q.scale[0] as f64 * (v as i64 - q.zero_point[0]) as f64)
            .collect();
        let sum: f64 = probs.iter().sum();
        println!(
            "person_detect case {case}: output {:?} -> probabilities {probs:?}",
            y.as_slice()
        );
        assert!(probs.iter().all(|&p| (0.0..=1.0).contains(&p)), "{probs:?}");
        assert!(
            (sum - 1.0).abs() <= 2.0 / 256.0,
            "probabilities sum to {sum}"
        );
    }
}
