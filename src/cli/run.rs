//! `nnopt run`: run a model or an NPU binary on .npy or random inputs.

use super::common::{file_stem, to_json, InputArgs, ThreadsArg};
use clap::Args;
use nnopt::model_inputs::Inputs;
use nnopt::npy::write_npy;
use nnopt::run_report::OutputReport;
use nnopt::runner::Runner;
use nnopt::{Error, Result};
use std::path::{Path, PathBuf};

/// Examples in `nnopt run --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt run model.onnx --input x.npy --output y.npy\n  nnopt run model.npub --random                      # inputs of the model's shapes, seed 0\n  nnopt run model.tflite --random --seed 3 --json    # values (first 1,000 per output) as JSON\n  nnopt run model_int8.tflite --input photo.npy      # float values are quantized for int8 inputs\n  nnopt run model.onnx -i x.npy --tap conv1,relu2 -o y.npy   # also writes y_conv1.npy, y_relu2.npy\n  nnopt run two_inputs.onnx --input a.npy --input b.npy --output out.npy\n\nFILE is a model (.onnx, .tflite, .nnir IR text), run by the reference interpreter, or an\nNPU binary (.npub), run by the virtual NPU. An input whose first dimension is k times the\nmodel's batch runs k times and the outputs are stacked. Quantized outputs are shown as\ncodes and dequantized values; outputs shaped [k, classes] also as their top-5 classes.";

/// Arguments of `nnopt run`.
#[derive(Args)]
pub struct RunArgs {
    /// Model file (.onnx, .tflite, .nnir IR text) or NPU binary (.npub).
    file: PathBuf,
    #[command(flatten)]
    inputs: InputArgs,
    /// Where to write the outputs (.npy). With several model outputs and one path
    /// `y.npy`, writes `y_0.npy`, `y_1.npy`, ...; without it, prints a summary.
    #[arg(long, short)]
    output: Vec<PathBuf>,
    /// Also capture these intermediate tensors (IR value names as `nnopt opt MODEL --emit
    /// ir` prints them; arena tensor names for .npub), written beside --output `y.npy` as
    /// `y_NAME.npy` (characters other than letters, digits, `.`, `_` and `-` become `_`).
    #[arg(long, value_name = "NAME[,NAME...]", value_delimiter = ',')]
    tap: Vec<String>,
    /// Print JSON instead of text: per output its name, dtype, shape, file, scale and
    /// zero point, the first 1,000 values (and dequantized values), and the top-5 classes
    /// of classifier-shaped outputs; the same for each tap.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// Runs the model (the virtual NPU for .npub files, else the reference interpreter) and
/// writes or summarizes its outputs.
pub fn run(args: &RunArgs) -> Result<()> {
    args.threads.install(|| run_model(args))
}

fn run_model(args: &RunArgs) -> Result<()> {
    let runner = Runner::load(&args.file)?;
    let ports = runner.inputs();
    let Inputs { tensors, notes } = args.inputs.for_ports(&ports)?;
    for note in &notes {
        eprintln!("note: {note}");
    }
    let (results, tapped) = runner.run(&tensors, &args.tap)?;
    let paths = output_paths(&args.output, results.len())?;
    let tap_paths: Vec<PathBuf> = match args.output.first() {
        Some(y) => args.tap.iter().map(|name| tap_path(y, name)).collect(),
        None => Vec::new(),
    };
    for (t, p) in results.iter().zip(&paths) {
        write_npy(p, t)?;
    }
    for ((_, t), p) in tapped.iter().zip(&tap_paths) {
        write_npy(p, t)?;
    }
    let file = |paths: &[PathBuf], k: usize| paths.get(k).map(|p| p.display().to_string());
    let outputs: Vec<OutputReport> = runner
        .outputs()
        .iter()
        .zip(&results)
        .enumerate()
        .map(|(k, (port, t))| OutputReport::new(port, t, file(&paths, k)))
        .collect();
    let taps: Vec<OutputReport> = tapped
        .iter()
        .enumerate()
        .map(|(k, (port, t))| OutputReport::new(port, t, file(&tap_paths, k)))
        .collect();
    if args.json {
        println!(
            "{}",
            to_json(&serde_json::json!({
                "file": args.file.display().to_string(),
                "inputs": notes,
                "outputs": outputs,
                "taps": taps,
            }))
        );
    } else {
        for o in &outputs {
            print!("{}", o.render());
        }
        for t in &taps {
            print!("tap {}", t.render());
        }
        if !taps.is_empty() && tap_paths.is_empty() {
            println!("(add --output y.npy to write the taps as y_NAME.npy)");
        }
    }
    Ok(())
}

/// `y_NAME.npy` beside `y`, NAME with characters outside `[A-Za-z0-9._-]` replaced by `_`.
fn tap_path(y: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    y.with_file_name(format!("{}_{safe}.npy", file_stem(y)))
}

/// The output files for `count` outputs: none, the requested ones, or one path
/// `y.npy` numbered `y_0.npy`, `y_1.npy`, ...
fn output_paths(requested: &[PathBuf], count: usize) -> Result<Vec<PathBuf>> {
    match requested.len() {
        0 => Ok(vec![]),
        n if n == count => Ok(requested.to_vec()),
        1 => {
            let p = &requested[0];
            let stem = file_stem(p);
            Ok((0..count)
                .map(|k| p.with_file_name(format!("{stem}_{k}.npy")))
                .collect())
        }
        n => Err(Error::new(format!(
            "the model has {count} outputs but {n} --output paths were given"
        ))),
    }
}
