//! Helpers for the TFLite tests: locating the shared models and LiteRT's reference data
//! (`litert/<model>/meta.json` and its .npy files).

use super::read_npy;
use nnopt_compiler::ir::{DType, Tensor};
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

/// Reads an .npy file and checks its element type against meta.json's numpy dtype name.
pub fn load_npy(path: &Path, dtype: &str) -> Tensor {
    let t = read_npy(path);
    let want = match dtype {
        "float32" => DType::F32,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        "int16" => DType::I16,
        "int32" => DType::I32,
        "int64" => DType::I64,
        other => panic!("{}: unsupported dtype {other}", path.display()),
    };
    assert_eq!(t.dtype(), want, "{}: dtype", path.display());
    t
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
