//! Helpers shared by the integration tests: locations of generated test data, the shared
//! models, the Python reference environment, and running the `nnopt` binary.
#![allow(dead_code)]

pub mod digits;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

/// The Python interpreter of the reference environment.
pub fn python() -> Option<PathBuf> {
    require(&repo().join(".venv/bin/python"))
}

/// Runs the `nnopt` binary.
pub fn nnopt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nnopt"))
        .args(args)
        .output()
        .expect("nnopt runs")
}

/// Runs `nnopt` and returns stdout, failing the test with stderr on a non-zero exit.
pub fn nnopt_ok(args: &[&str]) -> String {
    let out = nnopt(args);
    assert!(
        out.status.success(),
        "nnopt {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
