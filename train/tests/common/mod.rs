//! Helpers of the nnopt-train integration tests: locations of the generated test data and
//! the shared models and data, and loading a model.

use nnopt_compiler::ir::{verify, Graph};
use std::path::{Path, PathBuf};

/// The repository root (the workspace, one level above this crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lies in the workspace")
        .to_path_buf()
}

/// Generated test data (`NNOPT_TESTDATA`, else `<repo>/testdata`).
pub fn testdata() -> PathBuf {
    std::env::var_os("NNOPT_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("testdata"))
}

/// The shared models and data beside the repository.
pub fn shared() -> PathBuf {
    repo().join("../shared")
}

/// Returns `path` if it exists. When it is missing: under CI the test fails; locally it
/// prints a notice and the caller skips.
pub fn require(path: &Path) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "required test input {} is missing (run tools/make_testdata.py)",
            path.display()
        );
    }
    eprintln!(
        "notice: {} is missing; run `bash tools/test.sh` to generate it",
        path.display()
    );
    None
}

/// Imports an ONNX or TFLite model and verifies it.
pub fn load_model(path: &Path) -> nnopt_compiler::Result<Graph> {
    let g = nnopt_formats::import_model(path)?;
    verify(&g).map_err(|e| e.in_file(path))?;
    Ok(g)
}
