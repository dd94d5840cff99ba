//! The `nnopt` command: help, inspect, run, opt, errors and determinism.

mod common;

use common::*;
use nnopt::compiler::ir::Tensor;
use std::path::Path;

const MLP: &str = r#"graph "mlp"(%x) {
  %x: f32[1,4] = input
  %w: f32[4,3] = const [0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -0.5, 0.25, 0.75, 1.5, -2.0, 0.125]
  %b: f32[3] = const [0.1, -0.2, 0.3]
  %unit: f32[1,4] = identity(%x)
  %y: f32[1,3] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":"relu"}(%unit, %w, %b)
  %p: f32[1,3] = softmax {"axis":1,"beta":1.0}(%y)
  return %p
}
"#;

fn write_model(dir: &Path) -> String {
    let p = dir.join("mlp.nnir");
    std::fs::write(&p, MLP).expect("write model");
    p.to_string_lossy().into_owned()
}

fn write_input(dir: &Path, name: &str, rows: usize) -> String {
    let v: Vec<f64> = (0..rows * 4).map(|i| (i as f64 - 5.0) / 3.0).collect();
    let t = Tensor::from_f64s(nnopt::compiler::ir::DType::F32, &[rows, 4], &v).expect("shape");
    let p = dir.join(name);
    nnopt::npy::write_npy(&p, &t).expect("write npy");
    p.to_string_lossy().into_owned()
}

#[test]
fn help_has_examples() {
    for cmd in [
        vec!["--help"],
        vec!["inspect", "--help"],
        vec!["run", "--help"],
        vec!["opt", "--help"],
        vec!["compare", "--help"],
        vec!["compile", "--help"],
        vec!["export", "--help"],
        vec!["quantize", "--help"],
        vec!["ops", "--help"],
        vec!["passes", "--help"],
        vec!["fl", "simulate", "--help"],
        vec!["monitor", "--help"],
    ] {
        let out = nnopt_ok(&cmd);
        assert!(
            out.contains("Examples:"),
            "{cmd:?} help lacks examples:\n{out}"
        );
    }
    // The top level shows every command, and `run --help` names NPU binaries.
    let top = nnopt_ok(&["--help"]);
    for command in ["fl", "export", "compare", "ops", "run", "compile"] {
        assert!(
            top.contains(&format!("  {command} ")),
            "{command} missing:\n{top}"
        );
    }
    assert!(nnopt_ok(&["run", "--help"]).contains(".npub"));
}

#[test]
fn inspect_table_and_json() {
    let dir = tempdir();
    let model = write_model(dir.path());
    let table = nnopt_ok(&["inspect", &model]);
    assert!(
        table.contains("MACs") && table.contains("gemm") && table.contains("softmax"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&nnopt_ok(&["inspect", &model, "--json"])).expect("json");
    assert_eq!(json["macs"], 12);
    assert_eq!(json["parameters"], 15);
    assert_eq!(json["inputs"][0]["shape"], serde_json::json!([1, 4]));
    assert_eq!(json["ops"]["gemm"], 1);
}

#[test]
fn run_stacks_batches() {
    let dir = tempdir();
    let model = write_model(dir.path());
    let x3 = write_input(dir.path(), "x3.npy", 3);
    let y3 = dir.path().join("y3.npy");
    nnopt_ok(&[
        "run",
        &model,
        "--input",
        &x3,
        "--output",
        y3.to_str().expect("utf-8"),
    ]);
    let stacked = nnopt::npy::read_npy(&y3).expect("read output");
    assert_eq!(stacked.shape(), &[3, 3]);
    // Each row equals a run on that row alone.
    let all = nnopt::npy::read_npy(Path::new(&x3))
        .expect("read input")
        .to_f64_vec();
    let g = nnopt::load_model(Path::new(&model)).expect("load");
    for r in 0..3 {
        let row = Tensor::from_f64s(
            nnopt::compiler::ir::DType::F32,
            &[1, 4],
            &all[r * 4..r * 4 + 4],
        )
        .expect("row");
        let single = nnopt::compiler::interp::run(&g, &[row]).expect("runs")[0].to_f64_vec();
        assert_eq!(&stacked.to_f64_vec()[r * 3..r * 3 + 3], single.as_slice());
    }
}

#[test]
fn errors_name_the_file_and_exit_nonzero() {
    let dir = tempdir();
    let missing = dir.path().join("nope.onnx");
    let out = nnopt(&["inspect", missing.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.onnx"));

    for name in ["garbage.onnx", "garbage.tflite", "garbage.nnir"] {
        let p = dir.path().join(name);
        std::fs::write(&p, b"\x08\x07garbage\xff\xfe not a model").expect("write");
        let out = nnopt(&["inspect", p.to_str().expect("utf-8")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
    }

    let model = write_model(dir.path());
    let bad = write_input(dir.path(), "bad.npy", 1);
    // A 1x4 input given to a model expecting a different shape.
    let other = dir.path().join("other.nnir");
    std::fs::write(
        &other,
        MLP.replace("f32[1,4] = input", "f32[1,5] = input")
            .replace("%unit: f32[1,4]", "%unit: f32[1,5]"),
    )
    .expect("write");
    let out = nnopt(&["run", other.to_str().expect("utf-8"), "--input", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let _ = model;
}

#[test]
fn failed_run_leaves_no_output() {
    let dir = tempdir();
    let model = write_model(dir.path());
    let x = dir.path().join("x.npy");
    std::fs::write(&x, b"not npy").expect("write");
    let y = dir.path().join("y.npy");
    let out = nnopt(&[
        "run",
        &model,
        "--input",
        x.to_str().expect("utf-8"),
        "--output",
        y.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!y.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn opt_is_deterministic_and_prints_after_passes() {
    let dir = tempdir();
    let model = write_model(dir.path());
    let a = nnopt_ok(&["opt", &model, "--emit", "ir"]);
    let b = nnopt_ok(&["opt", &model, "--emit", "ir"]);
    assert_eq!(a, b);
    assert!(!a.contains("identity"), "identity-removal ran:\n{a}");
    let out = nnopt(&[
        "opt",
        &model,
        "--print-after",
        "identity-removal",
        "--verify",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("// IR after identity-removal"),
        "{err}"
    );
    // A misspelt pass name is an error naming it and the pipeline's passes.
    let out = nnopt(&["opt", &model, "--print-after", "identity-remova"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("--print-after identity-remova") && err.contains("identity-removal"),
        "{err}"
    );
    let o1 = dir.path().join("a.onnx");
    let o2 = dir.path().join("b.onnx");
    for o in [&o1, &o2] {
        nnopt_ok(&[
            "opt",
            &model,
            "--emit",
            "onnx",
            "-o",
            o.to_str().expect("utf-8"),
        ]);
    }
    assert_eq!(
        std::fs::read(&o1).expect("a"),
        std::fs::read(&o2).expect("b")
    );
}

#[test]
fn opt_rejects_a_bad_pipeline_naming_the_file() {
    let dir = tempdir();
    let model = write_model(dir.path());
    let p = dir.path().join("p.yaml");
    std::fs::write(&p, "passes: [constant-folding, frobnicate]").expect("write");
    let out = nnopt(&["opt", &model, "--pipeline", p.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("p.yaml") && err.contains("frobnicate"),
        "{err}"
    );
}

#[test]
fn opt_stats_show_the_egraph_and_target_cost() {
    let dir = tempdir();
    let model = write_model(dir.path());
    for (args, cost) in [
        (vec![], "cost (default)"),
        (vec!["--target", "npu"], "cost (npu-256)"),
    ] {
        let mut cmd = vec!["opt", model.as_str(), "--stats"];
        cmd.extend(args);
        let out = nnopt(&cmd);
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("egraph-optimize") && err.contains("stopped: saturated"),
            "{err}"
        );
        assert!(err.contains(cost), "{err}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&nnopt_ok(&["opt", &model, "--json"])).expect("json summary");
    let eg = summary["passes"]
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["pass"] == "egraph-optimize")
        .expect("egraph record");
    assert!(eg["stats"]["egraph_nodes"].as_u64().is_some_and(|n| n > 0));
    let bad = nnopt(&["opt", &model, "--target", "npu-9"]);
    assert!(!bad.status.success());
}

#[cfg(unix)]
#[test]
fn writing_to_dev_null_keeps_the_device() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempdir();
    let model = write_model(dir.path());
    nnopt_ok(&["opt", &model, "-o", "/dev/null"]);
    let ty = std::fs::metadata("/dev/null")
        .expect("/dev/null")
        .file_type();
    assert!(ty.is_char_device(), "/dev/null was replaced: {ty:?}");
}

/// A reader that stops early (`nnopt ... | head -1`) ends nnopt quietly: no error
/// message, no "internal error".
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    use std::process::{Command, Stdio};
    let dir = tempdir();
    let model = write_model(dir.path());
    // The IR text of a graph with many nodes is longer than a pipe buffer.
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnopt"))
        .args(["opt", &model, "--emit", "ir", "--print-after-all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nnopt starts");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("nnopt ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn negative_flag_values_are_values() {
    // `--pixel-range -1,1` (as `compile --help` shows it) and a negative `--mean`.
    let dir = tempdir();
    let model = write_model(dir.path());
    let out = dir.path().join("q.nnir");
    let o = out.to_str().expect("utf-8 path");
    let args = ["quantize", &model, "--format", "int8", "-o", o];
    let msg = nnopt_ok(&[&args[..], &["--pixel-range", "-1,1", "--mean", "-0.5"]].concat());
    assert!(out.exists(), "{msg}");
    let bad = nnopt(&[&args[..], &["--pixel-range", "-1"]].concat());
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--pixel-range"));
}

#[test]
fn empty_and_misshapen_inputs_are_errors() {
    let dir = tempdir();
    let model = write_model(dir.path());
    let out = dir.path().join("y.npy");
    let o = out.to_str().expect("utf-8 path");
    for (rows, cols, want) in [
        (0, 4, "holds no samples (shape [0, 4])"),
        (
            1,
            3,
            "the model takes [1, 4] (or [N, 4] for N stacked samples)",
        ),
    ] {
        let t = Tensor::from_f64s(
            nnopt::compiler::ir::DType::F32,
            &[rows, cols],
            &vec![0.0; rows * cols],
        )
        .expect("shape");
        let x = dir.path().join("x.npy");
        nnopt::npy::write_npy(&x, &t).expect("write npy");
        let r = nnopt(&["run", &model, "--input", x.to_str().unwrap(), "-o", o]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains(want), "{err}");
        assert!(!out.exists(), "wrote an output for {rows} x {cols}");
    }
}

#[test]
fn message_format_json_reports_errors_and_warnings_as_json_lines() {
    let dir = tempdir();
    let missing = dir.path().join("missing.tflite");
    let out = nnopt(&[
        "compile",
        missing.to_str().unwrap(),
        "--message-format",
        "json",
    ]);
    assert!(!out.status.success());
    let line = String::from_utf8(out.stderr).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["reason"], "nnopt-message");
    assert_eq!(v["level"], "error");
    assert_eq!(v["file"], missing.to_str().unwrap());
    assert!(v["rendered"].as_str().unwrap().starts_with("error: "));
    // Argument errors too.
    let out = nnopt(&["compile", "--message-format=json", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(out.stderr.trim_ascii()).unwrap();
    assert!(v["message"].as_str().unwrap().contains("--no-such-flag"));
    // Warnings: an uncalibrated float model.
    let model = write_model(dir.path());
    let npub = dir.path().join("m.npub");
    let out = nnopt(&[
        "compile",
        &model,
        "-o",
        npub.to_str().unwrap(),
        "--message-format",
        "json",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let warnings: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(warnings.iter().any(|w| w["level"] == "warning"), "{stderr}");
}
