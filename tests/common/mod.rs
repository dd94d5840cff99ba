//! Helpers shared by the integration tests: locations of generated test data, the shared
//! models, the Python reference environment, and running the `nnopt` binary.
#![allow(dead_code, unused_imports)] // each test binary uses a subset

pub mod container;
pub mod digits;
pub mod npu;
mod paths;
pub mod train;

pub use paths::{repo, require, shared, testdata};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Python interpreter of the reference environment.
pub fn python() -> Option<PathBuf> {
    require(&repo().join(".venv/bin/python"))
}

/// The Python interpreter of the Flower environment, with nnopt's bindings installed
/// (`tools/test.sh` builds them).
pub fn flower_python() -> Option<PathBuf> {
    require(&repo().join(".venv-flower/bin/python"))
}

/// The digits MLP (`testdata/digits/digits_mlp.onnx`) and the digits CSV; `None` when
/// missing (outside CI).
pub fn digits_mlp_inputs() -> Option<(PathBuf, PathBuf)> {
    let mlp = require(&testdata().join("digits/digits_mlp.onnx"))?;
    let csv = require(&shared().join("data/digits.csv.gz"))?;
    Some((mlp, csv))
}

/// `fl simulate --program PROGRAM --data CSV --clients CLIENTS --rounds ROUNDS`.
pub fn simulate_args<'a>(
    program: &'a Path,
    csv: &'a Path,
    clients: &'a str,
    rounds: &'a str,
) -> Vec<&'a str> {
    vec![
        "fl",
        "simulate",
        "--program",
        program.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--clients",
        clients,
        "--rounds",
        rounds,
    ]
}

/// A fresh temp dir holding the digits MLP compiled to `client.ntp` (FP8 training, fresh
/// weights), that program's path and the digits CSV; `None` when the inputs are missing.
pub fn digits_mlp_program() -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    let (mlp, csv) = digits_mlp_inputs()?;
    let dir = tempdir();
    let program = dir.path().join("client.ntp");
    let (m, p) = (mlp.to_str().unwrap(), program.to_str().unwrap());
    nnopt_ok(&[
        "compile",
        m,
        "--target",
        "train",
        "--precision",
        "fp8",
        "--reinit",
        "-o",
        p,
    ]);
    Some((dir, program, csv))
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

/// Runs `nnopt run MODEL --input x.npy -o y.npy` in `dir` on `input` and returns the
/// output tensor.
pub fn run_on(
    model: &Path,
    input: &nnopt::compiler::ir::Tensor,
    dir: &Path,
) -> nnopt::compiler::ir::Tensor {
    let x = dir.join("x.npy");
    nnopt::npy::write_npy(&x, input).unwrap();
    let y = dir.join("y.npy");
    nnopt_ok(&[
        "run",
        model.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
        "-o",
        y.to_str().unwrap(),
    ]);
    nnopt::npy::read_npy(&y).unwrap()
}

/// Runs the checker `tools/SCRIPT` with `python` on `model`, the `.npy` `inputs` and
/// `expected` outputs, the `extra` arguments and `--rtol RTOL`; returns its stdout and
/// stderr together, `Ok` when it passed.
pub fn python_check(
    python: &Path,
    script: &str,
    model: &Path,
    inputs: &[PathBuf],
    expected: &[PathBuf],
    extra: &[&str],
    rtol: f64,
) -> Result<String, String> {
    let out = Command::new(python)
        .arg(repo().join("tools").join(script))
        .arg(model)
        .arg("--inputs")
        .args(inputs)
        .arg("--expected")
        .args(expected)
        .args(extra)
        .arg("--rtol")
        .arg(rtol.to_string())
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// One step of the tests' 64-bit LCG (Knuth's MMIX constants): advances `state` and
/// returns the new state.
pub fn lcg_step(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state
}

/// The `.onnx` files in `dir`, sorted (entries that cannot be read are passed over).
pub fn onnx_files(dir: &Path) -> Vec<PathBuf> {
    let mut models: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list models")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    models
}
