//! The C example (`examples/c`), compiled with `cc -Wall -Werror` against the firmware
//! runtime's static library, gives `nnopt run`'s outputs byte for byte on every shared
//! int8 model; the CMake build with `nnopt_add_model()` does the same.

mod common;

use common::npu::{cargo, run_with_stdin, single_input, target_dir, INT8_MODELS};
use common::{nnopt_ok, repo, require, run_on, shared, tempdir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `libnnoptrt.a`, built once with cargo (release).
fn runtime_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let status = cargo()
            .args(["build", "--release", "-p", "nnopt-rt-c"])
            .env("CARGO_TARGET_DIR", target_dir())
            .current_dir(repo())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p nnopt-rt-c failed");
        target_dir().join("release/libnnoptrt.a")
    })
}

#[test]
fn c_example_matches_nnopt_run() {
    let lib = runtime_lib();
    let dir = tempdir();
    for m in INT8_MODELS {
        let Some(model) = require(&shared().join(format!("models/{m}.tflite"))) else {
            continue;
        };
        let name = m.replace('/', "_");
        let npub = dir.path().join(format!("{name}.npub"));
        let cdir = dir.path().join(&name);
        let model_s = model.to_str().unwrap();
        nnopt_ok(&["compile", model_s, "-o", npub.to_str().unwrap()]);
        nnopt_ok(&[
            "compile",
            model_s,
            "--emit",
            "c",
            "-o",
            cdir.to_str().unwrap(),
        ]);
        let make = Command::new("make")
            .args(["-C", repo().join("examples/c").to_str().unwrap()])
            .arg(format!("MODEL_DIR={}", cdir.display()))
            .arg(format!("NNOPT_LIB={}", lib.display()))
            .arg("CC=cc")
            .output()
            .expect("make runs");
        assert!(
            make.status.success(),
            "{m}: make failed:\n{}{}",
            String::from_utf8_lossy(&make.stdout),
            String::from_utf8_lossy(&make.stderr)
        );
        for seed in 0..2 {
            let x = single_input(&model, seed);
            let want = run_on(&npub, &x, dir.path());
            let got = run_with_stdin(&cdir.join("run_model"), &x.to_le_bytes());
            assert_eq!(got, want.to_le_bytes(), "{m} seed {seed}");
        }
    }
}

#[test]
fn cmake_example_matches_nnopt_run() {
    let Some(model) = require(&shared().join("models/generated/digits_cnn_int8.tflite")) else {
        return;
    };
    let lib = runtime_lib();
    let dir = tempdir();
    let build = dir.path().join("build");
    let cmake = |args: &[&str]| {
        let out = Command::new("cmake")
            .args(args)
            .output()
            .expect("cmake runs (apt-get install cmake)");
        assert!(
            out.status.success(),
            "cmake {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cmake(&[
        "-S",
        repo().join("examples/c").to_str().unwrap(),
        "-B",
        build.to_str().unwrap(),
        &format!("-DNNOPT={}", env!("CARGO_BIN_EXE_nnopt")),
        &format!("-DNNOPT_RUNTIME_LIB={}", lib.display()),
        &format!("-DNNOPT_EXAMPLE_MODEL={}", model.display()),
    ]);
    cmake(&["--build", build.to_str().unwrap()]);
    assert!(build.join("example_model/model.h").is_file());
    let npub = dir.path().join("m.npub");
    nnopt_ok(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        npub.to_str().unwrap(),
    ]);
    for seed in 0..2 {
        let x = single_input(&model, seed);
        let want = run_on(&npub, &x, dir.path());
        assert_eq!(
            run_with_stdin(&build.join("run_model"), &x.to_le_bytes()),
            want.to_le_bytes(),
            "seed {seed}"
        );
    }
}

#[test]
fn emitted_sources_are_reproducible_and_stored_by_default() {
    let model = repo().join("examples/models/digits_cnn_int8.tflite");
    let dir = tempdir();
    let emit = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec!["compile", model.to_str().unwrap(), "--emit", "c", "-o"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(extra);
        nnopt_ok(&args);
        (
            std::fs::read(out.join("model.c")).unwrap(),
            std::fs::read_to_string(out.join("model.h")).unwrap(),
        )
    };
    let (a, ha) = emit("a", &[]);
    let (b, hb) = emit("b", &["--threads", "1"]);
    assert_eq!((&a, &ha), (&b, &hb), "--emit c is not reproducible");
    let (compressed, hc) = emit("c", &["--weight-coding", "compressed", "--c-prefix", "kws"]);
    assert!(
        compressed.len() < a.len(),
        "stored weights should take more bytes"
    );
    assert!(hc.contains("#define KWS_ARENA_SIZE ") && hc.contains("kws_data["));
    let bad = common::nnopt(&[
        "compile",
        model.to_str().unwrap(),
        "--emit",
        "c",
        "--c-prefix",
        "9x",
    ]);
    assert!(!bad.status.success());
}
