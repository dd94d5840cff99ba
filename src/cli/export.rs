//! `nnopt export`: write a model as TFLite (int8 with `--int8`, sparse weights with
//! `--sparse`).

use super::calibration::CalibrationFlags;
use super::common::output_path;
use clap::Args;
use nnopt::calibration::CalibrationArgs;
use nnopt::compiler::pass::RunOptions;
use nnopt::formats::tflite::{export_tflite_with, TfliteExportOptions};
use nnopt::output::write_atomically;
use nnopt::progress::Progress;
use nnopt::{Error, ModelFormat, Result};
use std::path::PathBuf;

/// Examples in `nnopt export --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt export model_int8.tflite -o copy.tflite\n  nnopt export model.onnx -o model.tflite                      # float TFLite\n  nnopt export model.onnx --int8 --calibration calib.npy -o model_int8.tflite\n  nnopt export pruned_int8.tflite --sparse -o pruned_sparse.tflite   # zero-heavy weights stored sparse";

/// Arguments of `nnopt export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Model file (.onnx, .tflite, or .nnir IR text).
    file: PathBuf,
    /// Write an int8 model: float models are quantized like `nnopt compile` does
    /// (int8 post-training quantization with the calibration options below).
    #[arg(long)]
    int8: bool,
    #[command(flatten)]
    calibration: CalibrationFlags,
    /// Store the weights of convolutions and fully connected layers in TFLite's sparse
    /// format (CSR, expanded by a DENSIFY operator) where that takes fewer bytes: for
    /// pruned models, whose weights are mostly zero. .tflite outputs only.
    #[arg(long)]
    sparse: bool,
    /// Output file: .tflite, or .onnx / .nnir for those formats. Default: STEM.tflite beside the model (STEM_int8.tflite with
    /// --int8; STEM_nnopt.tflite where that would overwrite the model).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// Optimizes the model, quantizes it with `--int8`, and writes it as TFLite (or ONNX or IR
/// text, by the output's extension).
pub fn run(args: ExportArgs) -> Result<()> {
    let calibration = CalibrationArgs::from(args.calibration);
    if !args.int8 && calibration != CalibrationArgs::default() {
        return Err(Error::new("calibration options only apply with --int8"));
    }
    let file = &args.file;
    let variant = if args.int8 { "_int8" } else { "" };
    let output = &output_path(args.output.as_deref(), file, variant, "tflite")?;
    if args.sparse && ModelFormat::from_path(output) != Some(ModelFormat::Tflite) {
        return Err(Error::new(format!(
            "--sparse writes TFLite's sparse format: the output {} must be a .tflite file",
            output.display()
        )));
    }
    let mut g = nnopt::load_model(file)?;
    let progress = Progress::spinner(&format!("exporting {}", file.display()));
    nnopt::optimize(&mut g, None, &RunOptions::default()).map_err(|e| e.in_file(file))?;
    if args.int8 {
        let report =
            nnopt::calibration::quantize(&mut g, &calibration).map_err(|e| e.in_file(file))?;
        for w in &report.warnings {
            nnopt::diagnostics::warn(w);
        }
    }
    let bytes = if args.sparse {
        let options = TfliteExportOptions {
            sparse_weights: true,
        };
        export_tflite_with(&g, &options)
    } else {
        let format = ModelFormat::from_path(output).unwrap_or(ModelFormat::Tflite);
        nnopt::export(&g, format)
    }
    .map_err(|e| e.in_file(file))?;
    progress.finish();
    write_atomically(output, &bytes)?;
    println!("wrote {} ({} bytes)", output.display(), bytes.len());
    Ok(())
}
