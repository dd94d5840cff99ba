//! `nnopt fl flower`: a SuperLink and 3 SuperNodes on 127.0.0.1 running nnopt's Flower app
//! (in `.venv-flower`, set up by `tools/test.sh`), 10 rounds on the digits with the MLP
//! re-initialized, FP8 and FP32. The per-round test accuracy and losses equal `nnopt fl
//! simulate`'s with the same flags (the same clients, split, seeds and aggregation order:
//! bit-identical models); Flower's byte counts show FP32 moving at least 3.5x FP8's bytes;
//! no process of the deployment outlives the command, and the command itself refuses to
//! run if one listens beyond 127.0.0.1.

mod common;

use common::{digits_mlp_program, flower_python, nnopt, nnopt_ok};
use serde_json::Value;
use std::path::Path;

/// Live processes holding a file under `dir` open.
fn processes_using(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(dir)))
        {
            let cmd = std::fs::read_to_string(e.path().join("cmdline")).unwrap_or_default();
            found.push(format!("{pid} {}", cmd.replace('\0', " ")));
        }
    }
    found
}

fn rounds(v: &Value) -> &Vec<Value> {
    v["rounds"].as_array().expect("rounds")
}

#[test]
fn flower_deployment_matches_fl_simulate_round_for_round() {
    let Some(python) = flower_python() else {
        return;
    };
    let Some((dir, program, csv)) = digits_mlp_program() else {
        return;
    };
    let (program_s, csv_s) = (program.to_str().unwrap(), csv.to_str().unwrap());
    let common_flags = [
        "--program",
        program_s,
        "--data",
        csv_s,
        "--clients",
        "3",
        "--rounds",
        "10",
        "--seed",
        "7",
        "--json",
    ];
    let mut total_bytes = Vec::new();
    for precision in ["fp8", "fp32"] {
        let logs = dir.path().join(format!("logs-{precision}"));
        let mut args = vec!["fl", "flower", "--precision", precision];
        args.extend(common_flags);
        args.extend([
            "--python",
            python.to_str().unwrap(),
            "--log-dir",
            logs.to_str().unwrap(),
        ]);
        let flower: Value = serde_json::from_str(&nnopt_ok(&args)).expect("fl flower --json");
        let left = processes_using(&logs);
        assert!(
            left.is_empty(),
            "{precision}: processes outlived the command: {left:?}"
        );
        let mut args = vec!["fl", "simulate", "--precision", precision];
        args.extend(common_flags);
        let simulated: Value = serde_json::from_str(&nnopt_ok(&args)).unwrap();
        assert_eq!(rounds(&flower).len(), 10);
        for (f, s) in rounds(&flower).iter().zip(rounds(&simulated)) {
            for key in ["round", "accuracy", "test_loss", "train_loss"] {
                assert_eq!(f[key], s[key], "{precision} round {}: {key}", s["round"]);
            }
        }
        for key in [
            "precision",
            "messages",
            "partition",
            "server_optimizer",
            "client_optimizer",
            "client_rows",
            "initial_accuracy",
            "final_accuracy",
        ] {
            assert_eq!(flower[key], simulated[key], "{precision}: {key}");
        }
        let bytes = flower["total_bytes_up"].as_u64().unwrap()
            + flower["total_bytes_down"].as_u64().unwrap();
        println!(
            "{precision}: accuracy {:?}, Flower bytes up {} down {} (fl simulate's messages: {} / {})",
            rounds(&flower).iter().map(|r| r["accuracy"].as_f64().unwrap()).collect::<Vec<_>>(),
            flower["total_bytes_up"],
            flower["total_bytes_down"],
            simulated["total_bytes_up"],
            simulated["total_bytes_down"]
        );
        total_bytes.push(bytes as f64);
    }
    let ratio = total_bytes[1] / total_bytes[0];
    println!("Flower bytes FP32 / FP8: {ratio:.2}x");
    assert!(ratio >= 3.5, "FP32 moved {ratio:.2}x FP8's bytes");
}

/// Without Flower or the bindings the command says what to install.
#[test]
fn missing_flower_is_a_clear_error() {
    let Some(python) = common::python() else {
        return;
    };
    let Some((_dir, program, csv)) = digits_mlp_program() else {
        return;
    };
    // The reference venv has neither flwr nor nnopt's bindings.
    let out = nnopt(&[
        "fl",
        "flower",
        "--program",
        program.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--clients",
        "2",
        "--rounds",
        "1",
        "--python",
        python.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("pip install flwr==1.42.0") && err.contains("flwr"),
        "{err}"
    );
    let out = nnopt(&[
        "fl",
        "flower",
        "--program",
        program.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--python",
        "/nonexistent/python",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--python"));
}
