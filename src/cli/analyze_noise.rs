//! `nnopt analyze-noise`: information bounds of a binary network under neuron flips
//! (the `noise-analysis` pass), and with --data Monte-Carlo measurements against them.

use super::common::{file_stem, to_json, ThreadsArg};
use clap::Args;
use nnopt::noise::{sweep, SweepOptions, MAX_REPEATS};
use nnopt::output::write_atomically;
use nnopt::report::noise::{render_html, render_table};
use nnopt::train::data::load_dataset;
use nnopt::Result;
use std::path::PathBuf;

/// Examples in `nnopt analyze-noise --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt analyze-noise digits_bnn.nnir --flip-prob 0.1\n  nnopt analyze-noise trained.nnir --flip-prob 0,0.05,0.1,0.2,0.3,0.4,0.45 \\\n      --data digits.csv.gz --repeats 50 --seed 0 --report noise.html\n  nnopt analyze-noise trained.nnir --flip-prob 0.3 --classes 10 --target-error 0.05 --json\n\nBinary neurons are binarize activations on computed values (binarized weights stay\nexact). Bounds on I(label; output), in bits: H(label) times the percolation bound\nprod_l (1 - (1 - eta)^N_l) and the Evans-Schulman path sum prod_l N_l eta, with\neta = (1 - 2 eps)^2; the minimum width is the smallest N for which L layers of N\nneurons let Fano's inequality allow --target-error. With --data, every test sample\n(every fifth CSV row) runs --repeats times with fresh flips, and the table shows\naccuracy, the plug-in and Miller-Madow estimates of I(label; predicted class) and\nwhether the plug-in estimate is under its bound.";

/// Arguments of `nnopt analyze-noise`.
#[derive(Args)]
pub struct AnalyzeNoiseArgs {
    /// Model with binarize activations (.nnir, .onnx, .tflite).
    model: PathBuf,
    /// Probability that a binary neuron's output flips, in [0, 0.5]; a comma-separated
    /// list sweeps.
    #[arg(long, value_name = "EPS", required = true, value_delimiter = ',', value_parser = flip_prob)]
    flip_prob: Vec<f64>,
    /// Classes of the task [default: the output's values per sample].
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
    classes: Option<u64>,
    /// Error probability the minimum width is computed for.
    #[arg(long, default_value_t = 0.1, value_parser = target_error)]
    target_error: f64,
    /// Labelled dataset (CSV, .csv.gz, or an IDX directory) whose test split is run under
    /// noise.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Runs of the whole test split per flip probability (with --data).
    #[arg(long, default_value_t = 50, requires = "data", value_parser = repeats)]
    repeats: usize,
    /// Seed of the flips.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object for tools instead of the tables.
    #[arg(long)]
    json: bool,
    /// Write an HTML report with accuracy, information and bounds against the flip
    /// probability, and the depth-width trade-off.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    #[command(flatten)]
    threads: ThreadsArg,
}

fn flip_prob(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.0..=0.5).contains(&v) {
        return Err(format!("{v} is outside [0, 0.5]"));
    }
    Ok(v)
}

fn target_error(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.0..1.0).contains(&v) {
        return Err(format!("{v} is outside [0, 1)"));
    }
    Ok(v)
}

fn repeats(s: &str) -> std::result::Result<usize, String> {
    let v: usize = s.parse().map_err(|_| format!("'{s}' is not a count"))?;
    if v == 0 || v > MAX_REPEATS {
        return Err(format!("{v} is outside 1..={MAX_REPEATS}"));
    }
    Ok(v)
}

/// Runs `nnopt analyze-noise`.
pub fn run(a: &AnalyzeNoiseArgs) -> Result<()> {
    a.threads.install(|| analyze(a))
}

fn analyze(a: &AnalyzeNoiseArgs) -> Result<()> {
    let g = nnopt::load_model(&a.model)?;
    let data = match &a.data {
        Some(path) => Some(load_dataset(path)?),
        None => None,
    };
    let opts = SweepOptions {
        flip_probs: a.flip_prob.clone(),
        classes: a.classes,
        target_error: a.target_error,
        repeats: a.repeats,
        seed: a.seed,
    };
    // The bounds alone first, so that a model's faults name the model.
    let mut result = sweep(&g, None, &opts).map_err(|e| e.in_file(&a.model))?;
    if let (Some(d), Some(path)) = (&data, &a.data) {
        // What remains to fail is the data: labels, sample sizes.
        result = sweep(&g, Some((&d.samples, &d.test_rows)), &opts).map_err(|e| e.in_file(path))?;
    }
    if let Some(path) = &a.report {
        write_atomically(path, render_html(&file_stem(&a.model), &result)?.as_bytes())?;
    }
    if a.json {
        let v = serde_json::to_value(&result).expect("the analysis serializes");
        println!("{}", to_json(&v));
    } else {
        print!("{}", render_table(&result));
        if let Some(p) = &a.report {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}
