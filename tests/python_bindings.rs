//! nnopt's Python bindings (`python/`, installed into `.venv-flower` by `tools/test.sh`):
//! a federation driven from Python, with every client saved to bytes and restored each
//! round as a Flower `ClientApp` is, prints the same JSON as `nnopt fl simulate`, FP8 and
//! FP32; the numpy-level runtime trains, evaluates and encodes messages; bad input raises
//! Python exceptions (`python/tests/test_bindings.py`).

mod common;

use common::{digits_mlp_program, flower_python, nnopt_ok, repo};
use std::process::Command;

#[test]
fn python_federation_prints_the_same_json_as_fl_simulate() {
    let Some(python) = flower_python() else {
        return;
    };
    let Some((dir, program, csv)) = digits_mlp_program() else {
        return;
    };
    let (program_s, csv_s) = (program.to_str().unwrap(), csv.to_str().unwrap());
    let mut jsons = Vec::new();
    for precision in ["fp8", "fp32"] {
        let json = nnopt_ok(&[
            "fl",
            "simulate",
            "--program",
            program_s,
            "--data",
            csv_s,
            "--clients",
            "3",
            "--rounds",
            "4",
            "--seed",
            "3",
            "--precision",
            precision,
            "--json",
        ]);
        let path = dir.path().join(format!("{precision}.json"));
        std::fs::write(&path, json).unwrap();
        jsons.push(path);
    }
    let out = Command::new(python)
        .arg(repo().join("python/tests/test_bindings.py"))
        .args([program_s, csv_s])
        .args(&jsons)
        .output()
        .expect("python runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("fp8: per-round accuracy") && text.trim_end().ends_with("ok"),
        "{text}"
    );
}
