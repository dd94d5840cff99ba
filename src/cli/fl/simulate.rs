//! `nnopt fl simulate`: every client in this process.

use super::FederationArgs;
use crate::cli::common::{file_stem, to_json, ThreadsArg};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nnopt::output::write_atomically;
use nnopt::passes::TrainPrecision;
use nnopt::report::fl::{render_html, render_table};
use nnopt::train::data::{load_dataset, Dataset};
use nnopt::train::fl::participation::ParticipationOptions;
use nnopt::train::fl::simulate::{simulate_with, SimulateOptions, Simulation};
use nnopt::train::TrainingProgram;
use nnopt::{Error, ModelFormat, Result};
use std::path::PathBuf;

/// Arguments of `nnopt fl simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    federation: FederationArgs,
    /// Write an HTML report with accuracy curves of FP8 and FP32 side by side (runs both).
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Also run the other precision, and report the ratio of bytes to the target.
    #[arg(long)]
    compare: bool,
    /// Print one JSON object for tools instead of the table.
    #[arg(long)]
    json: bool,
    /// Write the trained global model (the program's forward graph with the final
    /// weights; of the --precision run) as a model file: .nnir, .onnx or .tflite.
    #[arg(long, value_name = "MODEL")]
    save: Option<PathBuf>,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// One simulation with a progress bar.
fn run_one(
    program: &TrainingProgram,
    data: &Dataset,
    opts: &SimulateOptions,
    participation: &ParticipationOptions,
) -> Result<Simulation> {
    let bar = ProgressBar::new(opts.rounds as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} round {pos}/{len} [{elapsed_precise}] {wide_bar} {msg}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(opts.precision.name());
    let sim = simulate_with(program, data, opts, participation, |r, warning| {
        if let Some(w) = warning {
            bar.suspend(|| {
                nnopt::diagnostics::warn(&format!("{} run: {w}", opts.precision.name()))
            });
        }
        bar.set_message(format!("accuracy {:.2} %", 100.0 * r.accuracy));
        bar.inc(1);
    });
    bar.finish_and_clear();
    sim
}

/// Runs `nnopt fl simulate`.
pub fn run(a: &SimulateArgs) -> Result<()> {
    a.threads.install(|| simulate_rounds(a))
}

fn simulate_rounds(a: &SimulateArgs) -> Result<()> {
    let format = match &a.save {
        Some(path) => Some(ModelFormat::from_path(path).ok_or_else(|| {
            Error::new("--save takes a .nnir, .onnx or .tflite file name").in_file(path)
        })?),
        None => None,
    };
    let (program, _) = nnopt::train::ntp::load(&a.federation.program)?;
    let data = load_dataset(&a.federation.data)?;
    let f = &a.federation;
    let opts = f.options(&program)?;
    let participation = f.participation();
    let main = run_one(&program, &data, &opts, &participation)?;
    let other = if a.compare || a.report.is_some() {
        let precision = match opts.precision {
            TrainPrecision::Fp8 => TrainPrecision::Fp32,
            TrainPrecision::Fp32 => TrainPrecision::Fp8,
        };
        Some(run_one(
            &program,
            &data,
            &SimulateOptions {
                precision,
                messages: precision,
                ..opts.clone()
            },
            &participation,
        )?)
    } else {
        None
    };
    // Bytes to the target of the other run over this run's.
    let ratio = other
        .as_ref()
        .and_then(|o| Some(o.bytes_to_target? as f64 / main.bytes_to_target? as f64));
    if let (Some(path), Some(format)) = (&a.save, format) {
        let trained = program.forward_with(&main.final_params)?;
        let bytes = nnopt::export(&trained, format).map_err(|e| e.in_file(path))?;
        write_atomically(path, &bytes)?;
    }
    if let Some(path) = &a.report {
        let name = file_stem(&f.program);
        let mut sims = vec![&main];
        sims.extend(other.as_ref());
        // FP8 first, so colours and the ratio read the same in every report.
        sims.sort_by_key(|s| s.precision != "fp8");
        write_atomically(path, render_html(&name, &sims)?.as_bytes())?;
    }
    if a.json {
        let mut v = serde_json::to_value(&main).expect("simulation serializes");
        if let Some(o) = &other {
            v["comparison"] = serde_json::to_value(o).expect("simulation serializes");
            v["bytes_to_target_ratio"] = serde_json::json!(ratio);
        }
        println!("{}", to_json(&v));
    } else {
        print!("{}", render_table(&main, 10));
        if let Some(o) = &other {
            println!();
            print!("{}", render_table(o, 10));
            if let Some(r) = ratio {
                println!(
                    "\nbytes to {:.0} %: {} needs {r:.2}x the bytes of {}",
                    100.0 * f.target_accuracy,
                    o.precision,
                    main.precision
                );
            }
        }
        for p in a.report.iter().chain(&a.save) {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}
