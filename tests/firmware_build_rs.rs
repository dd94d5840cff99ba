//! examples/build-rs: a crate whose build.rs compiles a model with the nnopt library
//! into OUT_DIR and embeds it with `include_bytes!`; its binary, running the model with
//! nnopt-rt, gives `nnopt run`'s outputs byte for byte.

mod common;

use common::npu::{cargo, run_with_stdin, single_input, target_dir};
use common::{nnopt_ok, repo, run_on, tempdir};

#[test]
fn build_rs_example_embeds_and_runs_a_model() {
    let target = target_dir().join("build-rs-example");
    let out = cargo()
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
    for seed in 0..3u64 {
        let x = single_input(&model, seed);
        let want = run_on(&npub, &x, dir.path());
        let got = run_with_stdin(&exe, &x.to_le_bytes());
        assert_eq!(got, want.to_le_bytes(), "seed {seed}");
    }
}
