//! Helpers shared by the integration tests: locations of generated test data, the shared
//! models, the Python reference environment, and running the `nnopt` binary.
#![allow(dead_code, unused_imports)] // each test binary uses a subset

pub mod digits;
mod paths;

pub use paths::{repo, require, shared, testdata};

use std::path::PathBuf;
use std::process::{Command, Output};

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
