//! examples/build-rs: a crate whose build.rs compiles a model with the nnopt library
//! into OUT_DIR and embeds it with `include_bytes!`; its binary, running the model with
//! nnopt-rt, gives `nnopt run`'s outputs byte for byte.

mod common;

use common::{lcg_step, nnopt_ok, repo, run_on, tempdir};
use nnopt::compiler::ir::Tensor;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn build_rs_example_embeds_and_runs_a_model() {
    let target = std::env::current_exe()
        .unwrap()
        .ancestors()
        .nth(3)
        .unwrap()
        .join("build-rs-example");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--locked", "--manifest-path"])
        .arg(repo().join("examples/build-rs/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("NNOPT_MODEL")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exe = target.join("debug/nnopt-example-build-rs");
    // The model build.rs compiles by default, compiled here with the CLI.
    let model = repo().join("examples/models/digits_cnn_int8.tflite");
    let dir = tempdir();
    let npub = dir.path().join("m.npub");
    nnopt_ok(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        npub.to_str().unwrap(),
    ]);
    let g = nnopt::load_model(&model).unwrap();
    let ty = &g.node(g.inputs()[0]).outputs[0].ty;
    for seed in 0..3u64 {
        let mut s = seed;
        let v: Vec<f64> = (0..ty.shape.iter().product::<usize>())
            .map(|_| ((lcg_step(&mut s) >> 33) % 256) as f64 - 128.0)
            .collect();
        let x = Tensor::from_f64s(ty.dtype, &ty.shape, &v).unwrap();
        let want = run_on(&npub, &x, dir.path());
        let mut child = Command::new(&exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&x.to_le_bytes())
            .unwrap();
        let got = child.wait_with_output().unwrap();
        assert!(got.status.success());
        assert_eq!(got.stdout, want.to_le_bytes(), "seed {seed}");
    }
}
