//! nnopt-rt builds into a `#![no_std]`, `#![no_main]` program with no allocator
//! (rt/nostd-check: linking would fail if the runtime needed `alloc`), whose arena is a
//! stack array of exactly model.h's `ARENA_SIZE`, and that program gives `nnopt run`'s
//! outputs byte for byte.

mod common;

use common::npu::{cargo, run_with_stdin, single_input, target_dir};
use common::{nnopt_ok, repo, require, run_on, shared, tempdir};
use std::path::Path;
use std::process::Command;

/// A `#define NAME value` figure of model.h.
fn figure(header: &str, name: &str) -> String {
    header
        .lines()
        .find_map(|l| l.strip_prefix(&format!("#define NNOPT_MODEL_{name} ")))
        .unwrap_or_else(|| panic!("model.h lacks {name}"))
        .trim_end_matches('u')
        .to_string()
}

fn check_model(model: &Path, dir: &Path) {
    let npub = dir.join("m.npub");
    let cdir = dir.join("c");
    let m = model.to_str().unwrap();
    // The binary model.c holds: weights stored (the --emit c default).
    nnopt_ok(&[
        "compile",
        m,
        "--weight-coding",
        "stored",
        "-o",
        npub.to_str().unwrap(),
    ]);
    nnopt_ok(&["compile", m, "--emit", "c", "-o", cdir.to_str().unwrap()]);
    let header = std::fs::read_to_string(cdir.join("model.h")).unwrap();
    let target = target_dir().join("nostd-check");
    let out = cargo()
        .args(["build", "--release", "--manifest-path"])
        .arg(repo().join("rt/nostd-check/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env("NNOPT_NPUB", &npub)
        .env("NNOPT_ARENA", figure(&header, "ARENA_SIZE"))
        .env("NNOPT_INPUT_BYTES", figure(&header, "INPUT0_BYTES"))
        .env("NNOPT_OUTPUT_BYTES", figure(&header, "OUTPUT0_BYTES"))
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = target.join("release/nnopt-rt-nostd-check");
    if let Ok(size) = Command::new("size").arg("-A").arg(&exe).output() {
        let table = String::from_utf8_lossy(&size.stdout);
        let text = table.lines().find(|l| l.starts_with(".text")).unwrap_or("");
        println!("{}: {text}", model.display());
    }
    for seed in 0..2u64 {
        let x = single_input(model, seed);
        let want = run_on(&npub, &x, dir);
        let got = run_with_stdin(&exe, &x.to_le_bytes());
        assert_eq!(got, want.to_le_bytes(), "{} seed {seed}", model.display());
    }
}

#[test]
fn no_std_program_without_allocator_runs_models() {
    for m in ["generated/digits_cnn_int8", "person_detect"] {
        let Some(model) = require(&shared().join(format!("models/{m}.tflite"))) else {
            continue;
        };
        check_model(&model, tempdir().path());
    }
}
