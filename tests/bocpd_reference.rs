//! nnopt's multi-fidelity BOCPD (`nnopt_train::bocpd`) against an independent float64
//! Python reference (`tools/bocpd_reference.py`, numpy only) on fixed-seed streams: the
//! run-length posterior agrees to 1e-9 at every step, and so do the information gains;
//! the Gauss–Hermite gains of the Normal model agree with a brute-force dense trapezoid
//! integration of the mutual information in its other form (and the Bernoulli gains with
//! that form's exact sum).

mod common;

use nnopt_train::bocpd::bernoulli::BetaBinomial;
use nnopt_train::bocpd::normal::NormalInverseGamma;
use nnopt_train::bocpd::policy::{Chooser, Policy};
use nnopt_train::bocpd::{Detector, ObservationModel};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// What the Rust detector computed at each step.
struct Trace {
    fidelity: Vec<usize>,
    posterior: Vec<Vec<f64>>,
    gains: Vec<Vec<f64>>,
}

/// Runs `model` over `rows` choosing fidelities by gain per cost.
fn trace<M: ObservationModel>(
    model: M,
    rows: &[Vec<f64>],
    costs: &[f64],
    hazard: f64,
    max_run: usize,
) -> Trace {
    let mut d = Detector::new(model, hazard, max_run);
    let mut chooser = Chooser::new(Policy::IgPerCost, costs.to_vec(), None, 0);
    let mut t = Trace {
        fidelity: Vec::new(),
        posterior: Vec::new(),
        gains: Vec::new(),
    };
    for (i, row) in rows.iter().enumerate() {
        let gains = d.gains();
        let j = chooser.choose(&gains, rows.len() - i - 1);
        d.observe(j, row[j]);
        t.fidelity.push(j);
        t.posterior
            .push(d.log_posterior().iter().map(|l| l.exp()).collect());
        t.gains.push(gains);
    }
    t
}

/// The reference's answer for `case`.
fn reference(case: &Value) -> Option<Value> {
    let python = common::python()?;
    let script = common::repo().join("tools/bocpd_reference.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(case.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "bocpd_reference.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("reference JSON"))
}

/// Asserts per step that `ours` and the reference's `key` agree to `tol`; prints the
/// largest difference.
fn assert_close(ours: &[Vec<f64>], theirs: &Value, key: &str, tol: f64) {
    let mut largest = 0f64;
    let theirs = theirs[key].as_array().expect(key);
    assert_eq!(ours.len(), theirs.len(), "{key}: steps");
    for (t, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let b: Vec<f64> = b
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(a.len(), b.len(), "{key}: length at step {t}");
        for (r, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= tol, "{key} step {t} [{r}]: {x} vs {y}");
            largest = largest.max((x - y).abs());
        }
    }
    eprintln!("{key}: largest difference {largest:.3e} (tolerance {tol:.0e})");
}

/// A standard normal variate (Box–Muller).
fn normal(rng: &mut Xoshiro256PlusPlus) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

#[test]
fn normal_posterior_and_gains_match_the_reference() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(24);
    let (zetas, prior) = (vec![0.1, 1.0], [0.0, 0.2, 3.0, 2.0]);
    // Levels 0, 3, −1 with changes at 40 and 80; noise variance 1/ζ_j.
    let rows: Vec<Vec<f64>> = (0..120)
        .map(|t| {
            let level = [0.0, 3.0, -1.0][t / 40];
            zetas
                .iter()
                .map(|z: &f64| level + normal(&mut rng) / z.sqrt())
                .collect()
        })
        .collect();
    let (hazard, max_run) = (1.0 / 50.0, 30);
    let model = NormalInverseGamma::new(prior[0], prior[1], prior[2], prior[3], zetas.clone());
    let ours = trace(model, &rows, &[1.0, 4.0], hazard, max_run);
    assert!(
        ours.fidelity.contains(&0) && ours.fidelity.contains(&1),
        "{:?}",
        ours.fidelity
    );
    let case = json!({"model": "normal", "prior": prior, "zetas": zetas, "hazard": hazard,
        "max_run": max_run, "rows": rows, "fidelity": ours.fidelity});
    let Some(theirs) = reference(&case) else {
        return;
    };
    assert_close(&ours.posterior, &theirs, "posterior", 1e-9);
    assert_close(&ours.gains, &theirs, "gains", 1e-9);
    // 50-point Gauss–Hermite against the dense trapezoid rule of Σ_r q_r KL(p_r ‖ p).
    assert_close(&ours.gains, &theirs, "brute_gains", 2e-3);
}

#[test]
fn bernoulli_posterior_and_gains_match_the_reference() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let trials = vec![1u32, 6];
    let rows: Vec<Vec<f64>> = (0..150)
        .map(|t| {
            let p = [0.2, 0.8, 0.45][t / 50];
            trials
                .iter()
                .map(|&n| (0..n).filter(|_| rng.random_range(0.0..1.0) < p).count() as f64)
                .collect()
        })
        .collect();
    let (hazard, max_run) = (1.0 / 60.0, 40);
    let ours = trace(
        BetaBinomial::new(1.0, 1.5, trials.clone()),
        &rows,
        &[1.0, 3.0],
        hazard,
        max_run,
    );
    assert!(
        ours.fidelity.contains(&0) && ours.fidelity.contains(&1),
        "{:?}",
        ours.fidelity
    );
    let case = json!({"model": "bernoulli", "prior": [1.0, 1.5], "trials": trials, "hazard": hazard,
        "max_run": max_run, "rows": rows, "fidelity": ours.fidelity});
    let Some(theirs) = reference(&case) else {
        return;
    };
    assert_close(&ours.posterior, &theirs, "posterior", 1e-9);
    assert_close(&ours.gains, &theirs, "gains", 1e-9);
    // The exact sum of the entropy form against the exact sum of Σ_r q_r KL(p_r ‖ p).
    assert_close(&ours.gains, &theirs, "brute_gains", 1e-9);
}
