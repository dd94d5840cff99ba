//! `nnopt opt --emit onnx` writes models that onnx.checker accepts and onnxruntime runs
//! with the source model's reference outputs (generated ONNX models: onnxruntime's own
//! outputs of the original; float TFLite models: LiteRT's outputs).

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn numbered(dir: &Path, prefix: &str, kind: &str) -> Vec<PathBuf> {
    (0..)
        .map(|k| dir.join(format!("{prefix}{kind}_{k}.npy")))
        .take_while(|p| p.exists())
        .collect()
}

fn check(
    python: &Path,
    exported: &Path,
    inputs: &[PathBuf],
    expected: &[PathBuf],
    rtol: f64,
) -> Result<String, String> {
    python_check(
        python,
        "check_onnx_export.py",
        exported,
        inputs,
        expected,
        &[],
        rtol,
    )
}

/// Runs `nnopt opt SRC --emit onnx -o OUT`.
fn export(src: &Path, out: &Path) -> Result<(), String> {
    let run = nnopt(&[
        "opt",
        src.to_str().expect("utf-8"),
        "--emit",
        "onnx",
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    if run.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nnopt failed: {}",
            String::from_utf8_lossy(&run.stderr)
        ))
    }
}

/// Exports each `(stem, source)` model to `STEM{suffix}` in a temp dir and checks it with
/// onnxruntime against the reference inputs and outputs `references(stem)` gives (`None`:
/// no references, the model is skipped); at the end, fails listing every export or check
/// failure.
fn check_exports(
    python: &Path,
    models: &[(String, PathBuf)],
    suffix: &str,
    references: impl Fn(&str) -> Option<(Vec<PathBuf>, Vec<PathBuf>)>,
) {
    let tmp = tempdir();
    let mut failures = vec![];
    for (stem, src) in models {
        let out = tmp.path().join(format!("{stem}{suffix}"));
        if let Err(e) = export(src, &out) {
            failures.push(format!("{stem}: {e}"));
            continue;
        }
        let Some((inputs, expected)) = references(stem) else {
            continue;
        };
        match check(python, &out, &inputs, &expected, 1e-4) {
            Ok(line) => println!("{stem}: {}", line.trim()),
            Err(e) => failures.push(format!("{stem}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "ONNX export failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn exported_generated_onnx_models_match_onnxruntime() {
    let (Some(python), Some(dir)) = (python(), require(&testdata().join("onnx/models"))) else {
        return;
    };
    let models = onnx_files(&dir);
    assert!(!models.is_empty());
    let models: Vec<(String, PathBuf)> = models
        .into_iter()
        .map(|m| {
            (
                m.file_stem().expect("stem").to_string_lossy().into_owned(),
                m,
            )
        })
        .collect();
    check_exports(&python, &models, ".opt.onnx", |stem| {
        let inputs = numbered(&dir, &format!("{stem}."), "input");
        let expected = numbered(&dir, &format!("{stem}."), "output");
        Some((inputs, expected))
    });
}

#[test]
fn exported_float_tflite_models_match_litert() {
    let (Some(python), Some(refs)) = (python(), require(&testdata().join("litert"))) else {
        return;
    };
    let models = [
        "generated/digits_cnn_float",
        "face_detection_short_range",
        "iris_landmark",
        "hand_landmark_lite",
    ]
    .map(|m| {
        let stem = Path::new(m)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        (stem, shared().join(format!("models/{m}.tflite")))
    });
    check_exports(&python, &models, ".onnx", |stem| {
        let case_dir = refs.join(stem);
        let meta = require(&case_dir.join("meta.json"))?;
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(meta).expect("read meta")).expect("meta json");
        let files = |key: &str| -> Vec<PathBuf> {
            meta["cases"][0][key]
                .as_array()
                .expect("case file list")
                .iter()
                .map(|f| case_dir.join(f.as_str().expect("file name")))
                .collect()
        };
        Some((files("inputs"), files("outputs")))
    });
}
