//! `nnopt monitor`: a run on a generated stream (JSON, table, report, determinism), its
//! errors on bad input, and `fl simulate --participation on-change`.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// A two-fidelity stream with level changes at steps 60 and 120: the low column is the
/// level plus a large deterministic wobble, the high column plus a small one.
fn write_stream(dir: &Path) -> String {
    let mut csv = String::from("low,high\n");
    for t in 0..180 {
        let level = [0.0, 4.0, 1.0][t / 60];
        let wobble = ((t * 37 % 11) as f64 - 5.0) / 5.0;
        csv += &format!("{},{}\n", level + 3.0 * wobble, level + 0.3 * wobble);
    }
    let p = dir.join("stream.csv");
    std::fs::write(&p, csv).unwrap();
    p.to_string_lossy().into_owned()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&nnopt_ok(args)).expect("JSON")
}

#[test]
fn finds_the_changes_and_reports() {
    let dir = tempdir();
    let stream = write_stream(dir.path());
    let args = [
        "monitor", "--stream", &stream, "--costs", "1,10", "--hazard", "60",
    ];
    let high = json(
        &[
            &args[..],
            &["--policy", "always-high", "--truth", "60,120", "--json"],
        ]
        .concat(),
    );
    assert_eq!(high["changepoints"], serde_json::json!([60, 120]), "{high}");
    assert_eq!(high["cost"], 1800.0);
    assert_eq!(high["score"]["f1"], 1.0);
    let fidelity = high["fidelity"].as_array().unwrap();
    assert_eq!(fidelity.len(), 180);
    assert!(fidelity.iter().all(|j| j == 1));
    // The active policy is deterministic, and a budget caps its cost.
    let active = [&args[..], &["--budget", "900", "--json"]].concat();
    let (a, b) = (json(&active), json(&active));
    assert_eq!(a, b);
    assert!(a["cost"].as_f64().unwrap() <= 900.0, "{}", a["cost"]);
    // The table and the report.
    let report = dir.path().join("monitor.html");
    let table = nnopt_ok(
        &[
            &args[..],
            &["--truth", "60,120", "--report", report.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(
        table.contains("F1 ") && table.contains("total cost"),
        "{table}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("Run-length posterior"));
}

#[test]
fn counts_with_the_bernoulli_model() {
    let dir = tempdir();
    let mut csv = String::from("one,eight\n");
    for t in 0..200u32 {
        let high = (100..200).contains(&t);
        let one = u32::from(high) ^ u32::from(t % 7 == 0);
        let eight = if high { 7 - t % 2 } else { t % 2 };
        csv += &format!("{one},{eight}\n");
    }
    let p = dir.path().join("counts.csv");
    std::fs::write(&p, csv).unwrap();
    let v = json(&[
        "monitor",
        "--stream",
        p.to_str().unwrap(),
        "--costs",
        "1,8",
        "--model",
        "bernoulli",
        "--trials",
        "1,8",
        "--policy",
        "always-high",
        "--json",
    ]);
    assert_eq!(v["changepoints"], serde_json::json!([100]), "{v}");
}

#[test]
fn bad_input_is_named() {
    let dir = tempdir();
    let d = dir.path();
    let stream = write_stream(d);
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let ragged = write("ragged.csv", "low,high\n1,2\n3\n");
    let nan = write("nan.csv", "low,high\n1,2\n3,inf\n");
    let counts = write("counts.csv", "one,eight\n1,9\n");
    let missing = d.join("missing.csv").to_string_lossy().into_owned();
    for (args, expected) in [
        (vec!["--stream", &missing, "--costs", "1,10"], "missing.csv"),
        (
            vec!["--stream", &ragged, "--costs", "1,10"],
            "line 3: 1 values",
        ),
        (
            vec!["--stream", &nan, "--costs", "1,10"],
            "line 3, column 'high': 'inf'",
        ),
        (
            vec!["--stream", &stream, "--costs", "1"],
            "--costs: 1 values given",
        ),
        (
            vec!["--stream", &stream, "--costs", "1,0"],
            "not a positive number",
        ),
        (
            vec!["--stream", &stream, "--costs", "1,10", "--hazard", "0"],
            "--hazard 0",
        ),
        (
            vec!["--stream", &stream, "--costs", "1,10", "--budget", "10"],
            "need at least 180",
        ),
        (
            vec!["--stream", &stream, "--costs", "1,10", "--noise", "1"],
            "--noise: 1 values",
        ),
        (
            vec![
                "--stream",
                &counts,
                "--costs",
                "1,8",
                "--model",
                "bernoulli",
                "--trials",
                "1,8",
            ],
            "step 0, column 'eight': 9 is not a count",
        ),
        (
            vec![
                "--stream",
                &counts,
                "--costs",
                "1,8",
                "--model",
                "bernoulli",
            ],
            "needs --trials",
        ),
    ] {
        let out = nnopt(&[&["monitor"][..], &args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn flower_refuses_participation_and_drift() {
    for flag in [["--participation", "on-change"], ["--drift", "5"]] {
        let out = nnopt(
            &[
                &["fl", "flower", "--program", "p.ntp", "--data", "d.csv"][..],
                &flag,
            ]
            .concat(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("are for fl simulate"), "{err}");
    }
}

#[test]
fn fl_on_change_participation_sends_fewer_bytes() {
    let Some((_dir, program, csv)) = digits_mlp_program() else {
        return;
    };
    let run = |participation: &str| {
        let mut args = simulate_args(&program, &csv, "4", "8");
        args.extend([
            "--non-iid",
            "dirichlet:0.3",
            "--drift",
            "5",
            "--participation",
            participation,
            "--json",
        ]);
        json(&args)
    };
    let (always, on_change) = (run("always"), run("on-change"));
    let bytes = |v: &Value| v["total_bytes_up"].as_u64().unwrap();
    assert!(
        bytes(&on_change) < bytes(&always),
        "{} vs {}",
        bytes(&on_change),
        bytes(&always)
    );
    let taking = on_change["participation"]["participants"]
        .as_array()
        .unwrap();
    assert_eq!(taking.len(), 8);
    // Every client takes part in the first rounds.
    assert_eq!(taking[0], 4);
    assert_eq!(always["participation"]["participants"][7], 4);
}
