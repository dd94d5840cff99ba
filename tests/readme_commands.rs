//! The README's "Use" commands, run verbatim on a fresh copy of the bundled examples,
//! without Python.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// The commands of the first `sh` block under `## Use` in the README.
fn use_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let section = readme.split("\n## Use\n").nth(1).expect("a ## Use section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("an sh block in ## Use");
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Copies `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn readme_use_commands_run_verbatim() {
    let commands = use_commands();
    assert!(commands.len() >= 5, "{commands:?}");
    let dir = tempdir();
    copy_dir(&repo().join("examples"), &dir.path().join("examples"));
    let mut outputs = Vec::new();
    for line in &commands {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "nnopt", "not an nnopt command: {line}");
        assert!(
            !line.contains(['"', '\'', '|', '>', '$', '\\']),
            "the test runs commands without a shell: {line}"
        );
        let out = Command::new(env!("CARGO_BIN_EXE_nnopt"))
            .args(&words[1..])
            .current_dir(dir.path())
            .output()
            .expect("nnopt runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{line}\n{stdout}\n{stderr}");
        assert!(
            !stderr.contains("warning"),
            "a README command warns: {line}\n{stderr}"
        );
        println!("$ {line}\n{stdout}");
        outputs.push((line.as_str(), stdout));
    }
    let find = |prefix: &str| {
        outputs
            .iter()
            .find(|(l, _)| l.starts_with(prefix))
            .map(|(_, o)| o.as_str())
            .unwrap_or_else(|| panic!("no README command starts with `{prefix}`"))
    };
    assert!(find("nnopt inspect").contains("MACs"));
    let compile = find("nnopt compile examples/models/digits_cnn_int8.tflite");
    assert!(
        compile.contains("NPU:") && compile.contains("conv2d"),
        "{compile}"
    );
    let npub = dir.path().join("examples/models/digits_cnn_int8.npub");
    assert!(npub.exists(), "compile writes the binary beside the model");
    assert!(std::fs::read_to_string(dir.path().join("report.html"))
        .unwrap()
        .contains("<svg"));
    assert!(find("nnopt run").contains("top-5"));
    // The interpreter and the virtual NPU agree exactly; float vs int8 does not.
    let same = find("nnopt compare examples/models/digits_cnn_int8.tflite");
    assert!(same.contains(" inf ") && same.contains("1/1"), "{same}");
    let ptq = find("nnopt compare examples/models/digits_cnn_float.tflite");
    assert!(!ptq.contains(" inf "), "{ptq}");
    assert!(find("nnopt opt").contains("egraph-optimize"));
    assert!(dir.path().join("client.ntp").exists());
    let fl = find("nnopt fl simulate");
    assert!(fl.contains("FP8") || fl.contains("fp8"), "{fl}");
    assert!(dir.path().join("fl.html").exists());
    let header = std::fs::read_to_string(dir.path().join("digits_c/model.h")).unwrap();
    assert!(
        header.contains("#define NNOPT_MODEL_ARENA_SIZE "),
        "{header}"
    );
    assert!(dir.path().join("digits_c/model.c").exists());
}

#[test]
fn readme_optimize_the_bundled_float_model() {
    let model = repo().join("examples/models/digits_cnn_float.tflite");
    let model = model.to_str().expect("utf-8");
    let dir = tempdir();
    let out = dir.path().join("digits_cnn.onnx");
    let run = nnopt(&[
        "opt",
        model,
        "--emit",
        "onnx",
        "-o",
        out.to_str().expect("utf-8"),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let stats: serde_json::Value =
        serde_json::from_str(&String::from_utf8_lossy(&run.stdout)).expect("summary is JSON");
    assert!(stats["passes"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(std::fs::metadata(&out).expect("onnx written").len() > 1000);
}
