//! `nnopt monitor`: changepoints in a multi-fidelity stream by active Bayesian online
//! changepoint detection, with the fidelity of each measurement chosen by a policy.

use super::common::to_json;
use clap::Args;
use nnopt::output::write_atomically;
use nnopt::report::monitor::{render_html, render_table, MonitorReport, Score};
use nnopt::{Error, Result};
use nnopt_train::bocpd::bernoulli::BetaBinomial;
use nnopt_train::bocpd::changepoint::f1_score;
use nnopt_train::bocpd::monitor::{monitor, MonitorOptions};
use nnopt_train::bocpd::normal::NormalInverseGamma;
use nnopt_train::bocpd::policy::Policy;
use nnopt_train::bocpd::stream::Stream;
use nnopt_train::bocpd::ObservationModel;
use std::path::PathBuf;

/// Examples in `nnopt monitor --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt monitor --stream data.csv --costs 1,10                  # ig-per-cost, a table\n  nnopt monitor --stream data.csv --costs 1,10 --policy always-high --json\n  nnopt monitor --stream data.csv --costs 1,10 --truth 200,450 --report monitor.html\n  nnopt monitor --stream data.csv --costs 1,10 --budget 5000 --noise 4,0.25\n  nnopt monitor --stream counts.csv --costs 1,8 --model bernoulli --trials 1,8\n\ndata.csv: a header, then one row per step and one column per fidelity (cheapest first):\nthe value each fidelity would measure at that step. Changepoints are the first steps\n(0-based rows) of new segments.";

/// Arguments of `nnopt monitor`.
#[derive(Args)]
pub struct MonitorArgs {
    /// The stream (CSV: a header, one row per step, one column per fidelity).
    #[arg(long)]
    stream: PathBuf,
    /// Cost of one measurement per fidelity, comma-separated, one per column.
    #[arg(long, value_delimiter = ',', required = true)]
    costs: Vec<f64>,
    /// Expected run length between changes (the hazard is 1/HAZARD per step).
    #[arg(long, default_value_t = 200.0)]
    hazard: f64,
    /// How each step's fidelity is chosen.
    #[arg(long, default_value = "ig-per-cost", value_parser = ["ig-per-cost", "always-high", "always-low", "random"])]
    policy: String,
    /// Observation model: normal (Normal–inverse-gamma, noise variance σ²/ζ_j per
    /// fidelity) or bernoulli (fidelity j counts successes in --trials n_j trials).
    #[arg(long, default_value = "normal", value_parser = ["normal", "bernoulli"])]
    model: String,
    /// Noise variance per fidelity (normal model; default: estimated from the stream).
    #[arg(long, value_delimiter = ',')]
    noise: Option<Vec<f64>>,
    /// Trials per measurement per fidelity (bernoulli model).
    #[arg(long, value_delimiter = ',')]
    trials: Option<Vec<u32>>,
    /// Total cost allowed: no policy spends what the remaining steps need for the
    /// cheapest fidelity, and ig-per-cost then maximizes gain minus a price times cost,
    /// the price paced to spend the budget evenly over the stream.
    #[arg(long)]
    budget: Option<f64>,
    /// Run-length hypotheses kept (the truncation bound; a step costs O(MAX_RUN)).
    #[arg(long, default_value_t = 500)]
    max_run: usize,
    /// Seed of the random policy.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The changepoint rule's window: a change is declared when the run began less than
    /// WINDOW steps ago with posterior probability above ½ (and not within WINDOW steps
    /// of the last one).
    #[arg(long, default_value_t = 10)]
    window: usize,
    /// Known changepoints (0-based steps, comma-separated): print precision, recall, F1.
    #[arg(long, value_delimiter = ',')]
    truth: Option<Vec<usize>>,
    /// Steps a detection may be off from a known changepoint and still count.
    #[arg(long, default_value_t = 5)]
    tolerance: usize,
    /// Print JSON: changepoints, cost, fidelity (per step), map_run_length,
    /// change_probability, and the score with --truth.
    #[arg(long)]
    json: bool,
    /// Write an HTML report: the stream with detected and known changepoints, the
    /// run-length posterior (heat map) with the MAP run length, the fidelity per step and
    /// the cumulative cost.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// Monitors the stream and prints (and writes the report).
pub fn run(a: &MonitorArgs) -> Result<()> {
    let stream = Stream::read(&a.stream)?;
    let fidelities = stream.names.len();
    check_list("--costs", &a.costs, fidelities)?;
    if !(a.hazard.is_finite() && a.hazard > 1.0) {
        return Err(Error::new(format!(
            "--hazard {}: the expected run length must be a number above 1",
            a.hazard
        )));
    }
    if a.max_run < 2 {
        return Err(Error::new("--max-run must be at least 2"));
    }
    if a.window == 0 || a.window >= a.max_run {
        return Err(Error::new(format!(
            "--window {} must be at least 1 and below --max-run {}",
            a.window, a.max_run
        )));
    }
    let steps = stream.rows.len();
    let cheapest = a.costs.iter().copied().fold(f64::INFINITY, f64::min);
    if let Some(b) = a.budget {
        if !(b.is_finite() && b >= cheapest * steps as f64) {
            return Err(Error::new(format!(
                "--budget {b}: {steps} steps need at least {} (the cheapest fidelity at every step)",
                cheapest * steps as f64
            )));
        }
    }
    let options = MonitorOptions {
        expected_run: a.hazard,
        max_run: a.max_run,
        policy: Policy::named(&a.policy).expect("clap checks the policy"),
        costs: a.costs.clone(),
        budget: a.budget,
        seed: a.seed,
        window: a.window,
    };
    let columns: Vec<Vec<f64>> = (0..fidelities).map(|j| stream.column(j)).collect();
    let (monitoring, model) = match a.model.as_str() {
        "normal" => {
            if a.trials.is_some() {
                return Err(Error::new("--trials is for --model bernoulli"));
            }
            if let Some(v) = &a.noise {
                check_list("--noise", v, fidelities)?;
            }
            let model = NormalInverseGamma::fit(&columns, a.noise.as_deref());
            let zetas = model.zetas().to_vec();
            (
                run_checked(model, &stream, a, &options)?,
                format!("normal, ζ = {}", list(&zetas)),
            )
        }
        _ => {
            if a.noise.is_some() {
                return Err(Error::new("--noise is for --model normal"));
            }
            let Some(trials) = &a.trials else {
                return Err(Error::new(
                    "--model bernoulli needs --trials (one count per column)",
                ));
            };
            if trials.len() != fidelities || trials.contains(&0) {
                return Err(Error::new(format!(
                    "--trials: {} given, but the stream has {fidelities} columns; each at least 1",
                    trials.len()
                )));
            }
            let model = BetaBinomial::new(1.0, 1.0, trials.clone());
            let describe = format!("bernoulli, trials = {trials:?}");
            (run_checked(model, &stream, a, &options)?, describe)
        }
    };
    let score = a.truth.as_ref().map(|truth| {
        let (precision, recall, f1) = f1_score(&monitoring.changepoints, truth, a.tolerance);
        Score {
            truth: truth.clone(),
            tolerance: a.tolerance,
            precision,
            recall,
            f1,
        }
    });
    let report = MonitorReport {
        stream: a.stream.display().to_string(),
        fidelity_names: stream.names.clone(),
        model,
        costs: a.costs.clone(),
        hazard: a.hazard,
        budget: a.budget,
        monitoring,
        score,
    };
    if let Some(path) = &a.report {
        write_atomically(path, render_html(&report, &columns)?.as_bytes())?;
    }
    if a.json {
        println!("{}", to_json(&report));
    } else {
        print!("{}", render_table(&report));
        if let Some(p) = &a.report {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

/// Checks every value of the stream against the model, then monitors.
fn run_checked<M: ObservationModel>(
    model: M,
    stream: &Stream,
    a: &MonitorArgs,
    options: &MonitorOptions,
) -> Result<nnopt_train::bocpd::monitor::Monitoring> {
    for (t, row) in stream.rows.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            model.check(j, x).map_err(|reason| {
                Error::new(format!("step {t}, column '{}': {reason}", stream.names[j]))
                    .in_file(&a.stream)
            })?;
        }
    }
    Ok(monitor(model, &stream.rows, options))
}

/// Checks a per-fidelity list: one positive finite value per column.
fn check_list(flag: &str, values: &[f64], fidelities: usize) -> Result<()> {
    if values.len() != fidelities {
        return Err(Error::new(format!(
            "{flag}: {} values given, but the stream has {fidelities} columns",
            values.len()
        )));
    }
    if let Some(v) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(Error::new(format!("{flag}: {v} is not a positive number")));
    }
    Ok(())
}

/// Values joined by commas.
fn list(values: &[f64]) -> String {
    let v: Vec<String> = values.iter().map(|x| format!("{x:.4}")).collect();
    v.join(",")
}
