//! Shared helpers for the TFLite tests: locating models and test data, reading .npy
//! files and LiteRT's meta.json.

#![allow(dead_code)]

use ndarray::ArrayD;
use ndarray_npy::read_npy;
use nnopt_compiler::ir::Tensor;
use std::path::{Path, PathBuf};

/// The repository root (the parent of the compiler crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

/// The shared models directory (`../shared/models` relative to the repository root).
pub fn models_dir() -> PathBuf {
    repo_root().join("../shared/models")
}

/// The generated test data: `$NNOPT_TESTDATA`, else `<repo>/testdata`.
pub fn testdata_dir() -> PathBuf {
    std::env::var_os("NNOPT_TESTDATA").map_or_else(|| repo_root().join("testdata"), PathBuf::from)
}

/// Whether `path` exists. Missing data fails under CI and is skipped with a notice
/// otherwise.
pub fn available(path: &Path) -> bool {
    if path.exists() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("required test data is missing: {}", path.display());
    }
    eprintln!("notice: skipping, {} is missing", path.display());
    false
}

/// Every shared .tflite model (top level and generated/), sorted.
pub fn all_models() -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in [models_dir(), models_dir().join("generated")] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "tflite") {
                    v.push(p);
                }
            }
        }
    }
    v.sort();
    v
}

/// Reads an .npy file of the given numpy dtype name into a tensor.
pub fn load_npy(path: &Path, dtype: &str) -> Tensor {
    fn load<T: ndarray_npy::ReadableElement>(path: &Path) -> ArrayD<T> {
        read_npy::<_, ArrayD<T>>(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
    match dtype {
        "float32" => Tensor::F32(load(path)),
        "int8" => Tensor::I8(load(path)),
        "uint8" => Tensor::U8(load(path)),
        "int16" => Tensor::I16(load(path)),
        "int32" => Tensor::I32(load(path)),
        "int64" => Tensor::I64(load(path)),
        other => panic!("unsupported npy dtype {other}"),
    }
}

/// One LiteRT reference case: inputs and expected outputs, with the resolver that made them.
pub struct Case {
    pub k: usize,
    pub description: String,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
    pub resolver: &'static str,
}

/// Loads the cases of `litert/<stem>/meta.json`. `prefer_kernels` picks LiteRT's
/// reference kernels (`ref_outputs`), else its builtin kernels (`builtin_outputs`), else
/// the default resolver's outputs.
pub fn load_cases(dir: &Path, prefer_kernels: bool) -> Vec<Case> {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("meta.json")).expect("meta.json readable"),
    )
    .expect("meta.json parses");
    let dtypes = |key: &str| -> Vec<String> {
        meta[key]
            .as_array()
            .expect("tensor list")
            .iter()
            .map(|t| t["dtype"].as_str().expect("dtype").to_string())
            .collect()
    };
    let (in_types, out_types) = (dtypes("inputs"), dtypes("outputs"));
    let files = |c: &serde_json::Value, key: &str| -> Option<Vec<String>> {
        c[key].as_array().map(|a| {
            a.iter()
                .map(|f| f.as_str().expect("file name").to_string())
                .collect()
        })
    };
    meta["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let (outs, resolver) = match (
                prefer_kernels,
                files(c, "ref_outputs"),
                files(c, "builtin_outputs"),
            ) {
                (true, Some(r), _) => (r, "BUILTIN_REF"),
                (true, None, Some(b)) => (b, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"),
                _ => (files(c, "outputs").expect("outputs"), "default (XNNPACK)"),
            };
            Case {
                k: c["k"].as_u64().expect("k") as usize,
                description: c["description"].as_str().unwrap_or("").to_string(),
                inputs: files(c, "inputs")
                    .expect("inputs")
                    .iter()
                    .zip(&in_types)
                    .map(|(f, t)| load_npy(&dir.join(f), t))
                    .collect(),
                outputs: outs
                    .iter()
                    .zip(&out_types)
                    .map(|(f, t)| load_npy(&dir.join(f), t))
                    .collect(),
                resolver,
            }
        })
        .collect()
}
