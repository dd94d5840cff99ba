//! `nnopt run`: run a model or an NPU binary on .npy inputs.

use super::common::{file_stem, to_json, ThreadsArg};
use clap::Args;
use nnopt::npy::{read_npy, write_npy};
use nnopt::{Error, Result};
use std::path::PathBuf;

/// Examples in `nnopt run --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt run model.onnx --input x.npy --output y.npy\n  nnopt run two_inputs.onnx --input a.npy --input b.npy --output out.npy";

/// Arguments of `nnopt run`.
#[derive(Args)]
pub struct RunArgs {
    /// Model file (.onnx, .tflite, or .nnir IR text).
    file: PathBuf,
    /// One .npy file per model input, in order.
    #[arg(long, short, required = true)]
    input: Vec<PathBuf>,
    /// Where to write the outputs (.npy). With several model outputs and one path
    /// `y.npy`, writes `y_0.npy`, `y_1.npy`, ...; without it, prints a summary.
    #[arg(long, short)]
    output: Vec<PathBuf>,
    /// Print JSON (output names, shapes, files) instead of text.
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
    let file = &args.file;
    let tensors = args
        .input
        .iter()
        .map(|p| read_npy(p))
        .collect::<Result<Vec<_>>>()?;
    let (results, names) = if nnopt::npub::is_npub(file) {
        let (p, _, _) = nnopt::npub::load(file)?;
        let shapes: Vec<Vec<usize>> = p.inputs.iter().map(|b| b.shape.clone()).collect();
        let session = nnopt::backends::npu::vnpu::Session::new(&p).map_err(|e| e.in_file(file))?;
        let results = nnopt::batch::run_batched_with(&shapes, &tensors, |x| session.run(x))
            .map_err(|e| e.in_file(file))?;
        (results, p.outputs.iter().map(|b| b.name.clone()).collect())
    } else {
        let g = nnopt::load_model(file)?;
        let results = nnopt::run(&g, &tensors).map_err(|e| e.in_file(file))?;
        let names: Vec<String> = g
            .outputs()
            .iter()
            .map(|&v| g.value(v).name.clone())
            .collect();
        (results, names)
    };
    let paths = output_paths(&args.output, results.len())?;
    let mut report = vec![];
    for (k, t) in results.iter().enumerate() {
        let name = names[k].clone();
        if let Some(p) = paths.get(k) {
            write_npy(p, t)?;
        }
        report.push(serde_json::json!({
            "name": name,
            "dtype": t.dtype().to_string(),
            "shape": t.shape(),
            "file": paths.get(k).map(|p| p.display().to_string()),
        }));
        if !args.json {
            let values = t.to_f64_vec();
            let head: Vec<String> = values.iter().take(8).map(|v| format!("{v}")).collect();
            let more = if values.len() > 8 { ", ..." } else { "" };
            let dest = paths
                .get(k)
                .map(|p| format!(" -> {}", p.display()))
                .unwrap_or_default();
            println!(
                "{name}: {}{:?} [{}{more}]{dest}",
                t.dtype(),
                t.shape(),
                head.join(", ")
            );
        }
    }
    if args.json {
        println!("{}", to_json(&report));
    }
    Ok(())
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
