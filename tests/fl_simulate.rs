//! `nnopt fl simulate`: FedAvg with FP8 clients and messages against the FP32 baseline on
//! the digits (`shared/data/digits.csv.gz`), with the digits MLP architecture
//! (`testdata/digits/digits_mlp.onnx`) re-initialized (He, seed 0), every training and
//! server option at its default.
//!
//! The full figures (digits CNN, 100 rounds) come from `benches/fl_digits.py`; here the
//! MLP keeps the suite fast.

mod common;

use common::{digits_mlp_inputs, digits_mlp_program, nnopt, nnopt_ok, simulate_args};
use nnopt::passes::TrainPrecision;
use nnopt::train::data::load_csv;
use nnopt::train::fl::partition::Partition;
use nnopt::train::fl::simulate::{simulate, SimulateOptions};
use nnopt::train::server::ServerOptimizer;
use nnopt::train::TrainingProgram;

#[test]
fn json_has_the_documented_shape_and_is_deterministic() {
    let Some((_dir, program, csv)) = digits_mlp_program() else {
        return;
    };
    let mut args = simulate_args(&program, &csv, "5", "3");
    args.extend(["--non-iid", "dirichlet:0.5", "--seed", "7", "--json"]);
    let first = nnopt_ok(&args);
    assert_eq!(first, nnopt_ok(&args), "same seed, different output");
    // A percentage is the same target as the fraction (0.9 is the default).
    args.extend(["--target-accuracy", "90"]);
    assert_eq!(first, nnopt_ok(&args), "--target-accuracy 90 is not 0.9");
    let v: serde_json::Value = serde_json::from_str(&first).expect("one JSON object");
    let final_accuracy = v["final_accuracy"].as_f64().expect("final_accuracy");
    let rounds = v["rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 3);
    let update = v["update_bytes"].as_u64().unwrap();
    let broadcast = v["broadcast_bytes"].as_u64().unwrap();
    for (i, r) in rounds.iter().enumerate() {
        assert_eq!(r["round"].as_u64(), Some(i as u64 + 1));
        let acc = r["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        // Per round, not cumulative: five updates and five broadcasts (FP8 sizes vary
        // by a few bytes of alignment).
        let up = r["bytes_up"].as_u64().unwrap();
        let down = r["bytes_down"].as_u64().unwrap();
        assert!(up.abs_diff(5 * update) <= 5 * 8, "{up} vs 5 x {update}");
        assert!(
            down.abs_diff(5 * broadcast) <= 5 * 8,
            "{down} vs 5 x {broadcast}"
        );
    }
    assert_eq!(rounds[2]["accuracy"].as_f64(), Some(final_accuracy));
    assert_eq!(v["precision"], "fp8");
    // 4,810 parameters: one byte each in FP8, four in FP32.
    assert!(
        (4810..4810 + 400).contains(&update),
        "update {update} bytes"
    );
}

#[test]
fn report_draws_fp8_and_fp32_side_by_side() {
    let Some((dir, program, csv)) = digits_mlp_program() else {
        return;
    };
    let report = dir.path().join("fl.html");
    let mut args = simulate_args(&program, &csv, "4", "2");
    args.extend(["--report", report.to_str().unwrap()]);
    let out = nnopt_ok(&args);
    assert!(
        out.contains("fp8 FedAvgM") && out.contains("fp32 FedAvgM"),
        "{out}"
    );
    assert!(
        out.contains("mean accuracy over the last 2 rounds"),
        "{out}"
    );
    let html = std::fs::read_to_string(&report).expect("report written");
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    for want in [
        "FP8",
        "FP32",
        "Test accuracy per round",
        "Loss per round",
        "target 90 %",
        "FP8 test",
        "FP32 train",
        "<th>client optimizer</th>",
        "SGD, learning rate 0.05, momentum 0.9",
        "FedAvgM, learning rate 1, momentum 0.9",
    ] {
        assert!(html.contains(want), "the report lacks '{want}'");
    }
    // Rounds are whole numbers on the round axes.
    let rounds_chart = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()];
    for half in [">0.5<", ">1.5<"] {
        assert!(!rounds_chart.contains(half), "a round axis label {half}");
    }
}

/// Features that say nothing about the label keep the model at chance level: after
/// 10 % of the rounds (not before round 20, or the last) `fl simulate` warns on stderr and in `--json`.
#[test]
fn accuracy_at_chance_level_is_warned_about() {
    let Some((dir, program, _)) = digits_mlp_program() else {
        return;
    };
    let csv = dir.path().join("noise.csv");
    let rows: String = (0..300)
        .map(|i| format!("{}{}\n", "0,".repeat(64), i % 10))
        .collect();
    std::fs::write(&csv, rows).unwrap();
    let mut args = simulate_args(&program, &csv, "2", "10");
    let out = nnopt(&args);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "warning: fp8 run: test accuracy is still at chance level after 10 of 10 rounds"
        ),
        "{err}"
    );
    args.push("--json");
    let v: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).unwrap();
    let warnings = v["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0]
        .as_str()
        .unwrap()
        .contains("check the learning rate"));
}

#[test]
fn bad_requests_fail_clearly_and_write_nothing() {
    let Some((dir, program, csv)) = digits_mlp_program() else {
        return;
    };
    let report = dir.path().join("fl.html");
    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(&bad_csv, "1,2,3\n4,x,6\n").unwrap();
    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, [0x31, 0x2c, 0xff, 0xfe, 0x0a]).unwrap();
    let p = program.to_str().unwrap();
    let cases: [(Vec<&str>, &str); 7] = [
        (
            vec!["--data", csv.to_str().unwrap(), "--non-iid", "skewed"],
            "dirichlet:ALPHA",
        ),
        (vec!["--data", "missing.csv"], "missing.csv"),
        (vec!["--data", bad_csv.to_str().unwrap()], "line 2"),
        (
            vec!["--data", binary.to_str().unwrap()],
            "binary.csv: is not a CSV text file (not UTF-8)",
        ),
        (
            vec!["--data", csv.to_str().unwrap(), "--clients", "1000"],
            "cannot give 1000 clients",
        ),
        (
            vec!["--data", csv.to_str().unwrap(), "--target-accuracy", "150"],
            "neither a fraction in (0, 1] nor a percentage",
        ),
        (
            vec!["--data", csv.to_str().unwrap(), "--clients", "0"],
            "'--clients <CLIENTS>': must be at least 1",
        ),
    ];
    for (extra, want) in cases {
        let mut args = vec!["fl", "simulate", "--program", p, "--rounds", "1"];
        args.extend(extra);
        args.extend(["--report", report.to_str().unwrap()]);
        let out = nnopt(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!report.exists(), "{args:?} wrote a report");
    }
}

/// FP8 FedAvg against FP32 FedAvg on the same seeds: 3 seeds, IID and Dirichlet(0.5),
/// 20 clients, 60 rounds of 1 local epoch. FP8's final accuracy is within 1 point of
/// FP32's on average over the seeds, and on every run FP32 needs at least 2.9x the bytes
/// (up + down) of FP8 to first reach 90 %.
#[test]
fn fp8_fedavg_matches_fp32_with_under_a_third_of_the_bytes() {
    let Some((mlp, csv)) = digits_mlp_inputs() else {
        return;
    };
    let data = load_csv(&csv).expect("digits");
    let forward = nnopt::load_model(&mlp).expect("MLP");
    let program =
        TrainingProgram::compile(&forward, &common::train::fp8_batch16_reinit0()).expect("program");
    println!("partition       seed  FP8 acc  FP32 acc   FP8 bytes  FP32 bytes  FP32/FP8");
    for partition in [Partition::Iid, Partition::Dirichlet(0.5)] {
        let (mut fp8_sum, mut fp32_sum) = (0.0, 0.0);
        for seed in 0..3 {
            let run = |precision| {
                let opts = SimulateOptions {
                    clients: 20,
                    rounds: 60,
                    local_epochs: 1,
                    partition,
                    server_optimizer: ServerOptimizer::default(),
                    precision,
                    messages: precision,
                    seed,
                    target_accuracy: 0.9,
                };
                simulate(&program, &data, &opts, |_, _| {}).expect("simulation")
            };
            let (a, b) = (run(TrainPrecision::Fp8), run(TrainPrecision::Fp32));
            let (x, y) = (
                a.bytes_to_target.expect("FP8 reaches 90 %"),
                b.bytes_to_target.expect("FP32 reaches 90 %"),
            );
            let ratio = y as f64 / x as f64;
            println!(
                "{:<15} {seed:>4} {:>7.2}% {:>8.2}% {x:>11} {y:>11} {ratio:>8.2}x",
                partition.to_string(),
                100.0 * a.final_accuracy,
                100.0 * b.final_accuracy
            );
            assert!(ratio >= 2.9, "{partition} seed {seed}: ratio {ratio}");
            fp8_sum += a.final_accuracy;
            fp32_sum += b.final_accuracy;
        }
        let (fp8, fp32) = (fp8_sum / 3.0, fp32_sum / 3.0);
        println!("{partition}: mean final accuracy FP8 {fp8:.4}, FP32 {fp32:.4}");
        assert!(fp8 >= fp32 - 0.01, "{partition}: FP8 {fp8} vs FP32 {fp32}");
    }
}

/// A client whose whole state goes through bytes between rounds (what a Flower
/// `ClientApp` does through its context) computes the same rounds as one that stays in
/// memory: equal global models after every round, FP8 and FP32. Damaged states are
/// errors.
#[test]
fn clients_restored_from_bytes_every_round_match_clients_in_memory() {
    use nnopt::train::fl::client::FlClient;
    use nnopt::train::message::{Encoding, Message};
    use nnopt::train::server::Server;
    use rand::SeedableRng;
    let Some((mlp, csv)) = digits_mlp_inputs() else {
        return;
    };
    let data = load_csv(&csv).expect("digits");
    let forward = nnopt::load_model(&mlp).expect("MLP");
    let program =
        TrainingProgram::compile(&forward, &common::train::fp8_batch16_reinit0()).expect("program");
    for (precision, encoding) in [
        (
            TrainPrecision::Fp8,
            Encoding::Fp8(nnopt::compiler::fp8::Fp8Format::E4M3),
        ),
        (TrainPrecision::Fp32, Encoding::F32),
    ] {
        let opts = SimulateOptions {
            clients: 3,
            rounds: 3,
            local_epochs: 1,
            partition: Partition::Iid,
            server_optimizer: ServerOptimizer::default(),
            precision,
            messages: precision,
            seed: 5,
            target_accuracy: 0.9,
        };
        let want = simulate(&program, &data, &opts, |_, _| {}).expect("simulation");
        // The same federation, every client saved after its round and restored before
        // the next.
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(opts.seed);
        let parts = opts
            .partition
            .split(
                &data.train_rows,
                &data.samples.labels,
                3,
                program.batch,
                &mut rng,
            )
            .unwrap();
        let mut server = Server::new(
            &program,
            opts.server_optimizer,
            encoding,
            opts.seed.wrapping_mul(7919),
        )
        .unwrap();
        let mut states: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                FlClient::new(&program, precision, encoding, opts.seed, i)
                    .unwrap()
                    .save()
                    .unwrap()
            })
            .collect();
        for round in 1..=3u32 {
            let broadcast =
                Message::from_bytes(&server.broadcast(round).unwrap().to_bytes()).unwrap();
            let mut updates = Vec::new();
            for (state, rows) in states.iter_mut().zip(&parts) {
                let mut c = FlClient::restore(&program, precision, encoding, state).unwrap();
                let (update, _) = c.round(&broadcast, &data.samples, rows, 1).unwrap();
                *state = c.save().unwrap();
                updates.push(update);
            }
            server.aggregate(round, &updates).unwrap();
            let got = nnopt::train::runtime::evaluate(
                &program,
                server.global(),
                &data.samples,
                &data.test_rows,
            )
            .unwrap();
            assert_eq!(
                got.accuracy,
                want.rounds[round as usize - 1].accuracy,
                "{precision:?} round {round}"
            );
            assert_eq!(
                got.loss,
                want.rounds[round as usize - 1].test_loss,
                "{precision:?} round {round}"
            );
        }
        let state = &states[0];
        for n in [0, 8, 20, state.len() / 2, state.len() - 1] {
            assert!(
                FlClient::restore(&program, precision, encoding, &state[..n]).is_err(),
                "{n} bytes"
            );
        }
        let mut longer = state.clone();
        longer.push(0);
        assert!(FlClient::restore(&program, precision, encoding, &longer).is_err());
    }
}
