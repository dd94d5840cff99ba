//! `nnopt compare`: run two models on the same inputs (or a model against reference
//! outputs) and measure how far their outputs are apart.

use super::common::{to_json, InputArgs, ThreadsArg};
use clap::Args;
use nnopt::compare::{diff, OutputDiff};
use nnopt::compiler::ir::Tensor;
use nnopt::model_inputs::{random_pair, same_arity, Inputs};
use nnopt::npy::read_npy_stored;
use nnopt::runner::{real_values, Port, Runner};
use nnopt::{Error, Result};
use std::path::{Path, PathBuf};

/// Examples in `nnopt compare --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt compare model.tflite model.npub --random            # interpreter vs virtual NPU\n  nnopt compare model_float.tflite model_int8.tflite --input x.npy   # what PTQ cost\n  nnopt compare model.onnx expected.npy --input x.npy     # against a reference output\n  nnopt compare a.onnx b.nnir --random --seed 7 --json\n  nnopt compare model.onnx model.npub --random --min-snr 30   # exit 1 below 30 dB\n\nErrors are measured on real values: quantized outputs are dequantized with their scale\nand zero point (reference .npy files of integer codes with the first model's). Inputs\nare read as `nnopt run` reads them, separately for each model: float values given to a\nquantized input are quantized. With --random, each input is drawn for the model whose\ninput is quantized (every code equally likely) and the other gets the same real values.\nmax rel = max abs error / largest reference magnitude; SNR = 10 log10(sum ref^2 / sum\nerr^2); top-1 agree counts the rows of classifier outputs ([k, C]) with the same best\nclass. The second file is the reference.";

/// Arguments of `nnopt compare`.
#[derive(Args)]
pub struct CompareArgs {
    /// The model to check (.onnx, .tflite, .nnir IR text, or .npub NPU binary).
    a: PathBuf,
    /// The reference: a second model, or one .npy file per output of the first.
    #[arg(required = true, num_args = 1.., value_name = "B")]
    b: Vec<PathBuf>,
    #[command(flatten)]
    inputs: InputArgs,
    /// Exit with status 1 when an output's SNR is below DB decibels.
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    min_snr: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// Runs the comparison and prints it.
pub fn run(args: &CompareArgs) -> Result<()> {
    let diffs = args.threads.install(|| compare(args))?;
    if args.json {
        let outputs: Vec<serde_json::Value> = diffs.iter().map(diff_json).collect();
        println!(
            "{}",
            to_json(&serde_json::json!({
                "a": args.a.display().to_string(),
                "b": args.b.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "outputs": outputs,
            }))
        );
    } else {
        print!("{}", render(&diffs));
    }
    if let Some(min) = args.min_snr {
        let low: Vec<String> = diffs
            .iter()
            .filter(|d| d.snr_db.is_nan() || d.snr_db < min)
            .map(|d| format!("'{}' ({:.1} dB)", d.name, d.snr_db))
            .collect();
        if !low.is_empty() {
            return Err(Error::new(format!(
                "SNR below --min-snr {min} dB: {}",
                low.join(", ")
            )));
        }
    }
    Ok(())
}

fn compare(args: &CompareArgs) -> Result<Vec<OutputDiff>> {
    let a = Runner::load(&args.a)?;
    let ports_a = a.inputs();
    let references = args.b.iter().all(|p| has_extension(p, "npy"));
    if references {
        let inputs = args.inputs.for_ports(&ports_a)?;
        print_notes(&inputs.notes);
        let (outs, _) = a.run(&inputs.tensors, &[])?;
        return against_references(&a.outputs(), &outs, &args.b);
    }
    if args.b.len() != 1 {
        return Err(Error::new(format!(
            "give one model or .npy reference files to compare {} with, not {} files",
            args.a.display(),
            args.b.len()
        )));
    }
    let b = Runner::load(&args.b[0])?;
    let ports_b = b.inputs();
    let (ins_a, ins_b) = if args.inputs.random {
        random_pair(&ports_a, &ports_b, args.inputs.seed).map_err(|e| e.in_file(&args.b[0]))?
    } else {
        same_arity(&ports_a, &ports_b)?;
        let read = |ports: &[Port], file: &Path| -> Result<Inputs> {
            args.inputs
                .for_ports(ports)
                .map_err(|e| Error::new(format!("inputs for {}: {e}", file.display())))
        };
        (read(&ports_a, &args.a)?, read(&ports_b, &args.b[0])?)
    };
    print_notes(&ins_a.notes);
    for note in ins_b.notes.iter().filter(|n| !ins_a.notes.contains(n)) {
        eprintln!("note: {}: {note}", args.b[0].display());
    }
    let (outs_a, _) = a.run(&ins_a.tensors, &[])?;
    let (outs_b, _) = b.run(&ins_b.tensors, &[])?;
    let (out_ports_a, out_ports_b) = (a.outputs(), b.outputs());
    if outs_a.len() != outs_b.len() {
        return Err(Error::new(format!(
            "{} has {} outputs and {} has {}",
            args.a.display(),
            outs_a.len(),
            args.b[0].display(),
            outs_b.len()
        )));
    }
    out_ports_a
        .iter()
        .zip(&outs_a)
        .zip(out_ports_b.iter().zip(&outs_b))
        .map(|((pa, ta), (pb, tb))| {
            check_shapes(&pa.name, ta.shape(), tb.shape())?;
            Ok(diff(
                &pa.name,
                ta.shape(),
                &real_values(ta, pa.quant),
                &real_values(tb, pb.quant),
            ))
        })
        .collect()
}

/// The outputs of a model compared with one reference `.npy` file each.
fn against_references(
    ports: &[Port],
    outs: &[Tensor],
    files: &[PathBuf],
) -> Result<Vec<OutputDiff>> {
    if files.len() != outs.len() {
        return Err(Error::new(format!(
            "the model has {} outputs, {} reference .npy files were given",
            outs.len(),
            files.len()
        )));
    }
    ports
        .iter()
        .zip(outs)
        .zip(files)
        .map(|((port, t), file)| {
            let (reference, stored) = read_npy_stored(file)?;
            check_shapes(&port.name, t.shape(), reference.shape()).map_err(|e| e.in_file(file))?;
            let integer = !matches!(stored, "float16" | "float32" | "float64");
            let quant = port.quant.filter(|_| integer);
            if let Some((s, z)) = quant {
                eprintln!(
                    "note: {}: {stored} codes dequantized with output '{}''s scale {s} and zero \
                     point {z}",
                    file.display(),
                    port.name
                );
            }
            Ok(diff(
                &port.name,
                t.shape(),
                &real_values(t, port.quant),
                &real_values(&reference, quant),
            ))
        })
        .collect()
}

/// Accepts equal shapes, and shapes that differ only in dimensions of size 1.
fn check_shapes(name: &str, a: &[usize], b: &[usize]) -> Result<()> {
    let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
    if squeeze(a) != squeeze(b) {
        return Err(Error::new(format!(
            "output '{name}' is {a:?} in one and {b:?} in the other"
        )));
    }
    Ok(())
}

fn has_extension(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn print_notes(notes: &[String]) {
    for note in notes {
        eprintln!("note: {note}");
    }
}

/// A table of the differences.
fn render(diffs: &[OutputDiff]) -> String {
    let name_width = diffs.iter().map(|d| d.name.len()).max().unwrap_or(0).max(6);
    let mut out = format!(
        "{:<name_width$}  {:<16} {:>12} {:>12} {:>11} {:>9}  top-1 agree\n",
        "output", "shape", "max abs err", "mean abs err", "max rel err", "SNR dB"
    );
    for d in diffs {
        let top1 = match d.top1_agree {
            Some((k, n)) => format!("{k}/{n} ({:.1} %)", 100.0 * k as f64 / n.max(1) as f64),
            None => "-".into(),
        };
        out += &format!(
            "{:<name_width$}  {:<16} {:>12} {:>12} {:>10.3}% {:>9}  {top1}\n",
            d.name,
            format!("{:?}", d.shape),
            format!("{:.4e}", d.max_abs_error),
            format!("{:.4e}", d.mean_abs_error),
            100.0 * d.max_rel_error,
            if d.snr_db.is_infinite() && d.snr_db > 0.0 {
                "inf".to_string()
            } else {
                format!("{:.2}", d.snr_db)
            },
        );
        if d.nan_mismatches > 0 {
            out += &format!("  {} values are NaN on one side only\n", d.nan_mismatches);
        }
    }
    out
}

/// JSON of one output's differences (an infinite SNR as null, with `identical: true`).
fn diff_json(d: &OutputDiff) -> serde_json::Value {
    let finite = |x: f64| x.is_finite().then_some(x);
    serde_json::json!({
        "name": d.name,
        "shape": d.shape,
        "max_abs_error": finite(d.max_abs_error),
        "mean_abs_error": finite(d.mean_abs_error),
        "max_rel_error": finite(d.max_rel_error),
        "snr_db": finite(d.snr_db),
        "identical": d.max_abs_error == 0.0 && d.nan_mismatches == 0,
        "top1_agree": d.top1_agree.map(|(k, _)| k),
        "rows": d.top1_agree.map(|(_, n)| n),
        "nan_mismatches": d.nan_mismatches,
    })
}
