//! `nnopt quantize`: quantize a float model to FP8 or int8 and write QDQ ONNX or IR text.

use super::calibration::CalibrationDataFlags;
use super::common::ThreadsArg;
use super::common::{output_path, to_json};
use clap::{Args, ValueEnum};
use nnopt::compiler::pass::RunOptions;
use nnopt::output::write_atomically;
use nnopt::progress::Progress;
use nnopt::quantize::{QuantFormat, QuantizeRequest};
use nnopt::{Error, ModelFormat, Result};
use std::path::PathBuf;

/// Examples in `nnopt quantize --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt quantize model.onnx --format e4m3 --per-channel -o model_e4m3.onnx\n  nnopt quantize model.tflite --format e5m2 --calibration images/ -o model_e5m2.onnx\n  nnopt quantize model.onnx --format int8 --calibration x.npy -o model.nnir\n  nnopt quantize model.onnx --format e4m3 --weights-only --json -o w8.onnx";

/// Arguments of `nnopt quantize`.
#[derive(Args)]
pub struct QuantizeArgs {
    /// Model file (.onnx, .tflite, or .nnir IR text).
    file: PathBuf,
    /// Number format of weights and data.
    #[arg(long, value_enum, default_value_t = FormatArg::E4m3)]
    format: FormatArg,
    /// One weight scale per output channel instead of one per tensor.
    #[arg(long)]
    per_channel: bool,
    /// FP8 only: quantize weights, keep data in f32.
    #[arg(long)]
    weights_only: bool,
    #[command(flatten)]
    calibration: CalibrationDataFlags,
    /// Output file: .onnx (QDQ ONNX) or .nnir (IR text). Default: STEM_FORMAT.onnx
    /// beside the model (model_e4m3.onnx).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print JSON for tools instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// `--format`.
#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// FP8 E4M3 (max 448, 3 mantissa bits).
    E4m3,
    /// FP8 E5M2 (max 57344, 2 mantissa bits).
    E5m2,
    /// Int8: symmetric weights, asymmetric per-tensor activations (TFLite semantics).
    Int8,
}

impl From<FormatArg> for QuantFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::E4m3 => QuantFormat::E4m3,
            FormatArg::E5m2 => QuantFormat::E5m2,
            FormatArg::Int8 => QuantFormat::Int8,
        }
    }
}

/// Quantizes the model and writes it, printing a summary.
pub fn run(args: QuantizeArgs) -> Result<()> {
    let threads = args.threads;
    threads.install(move || quantize(args))
}

fn quantize(args: QuantizeArgs) -> Result<()> {
    let req = QuantizeRequest {
        format: args.format.into(),
        per_channel: args.per_channel,
        weights_only: args.weights_only,
        data: args.calibration.into(),
    };
    let file = &args.file;
    let variant = format!("_{}", req.format.name());
    let out = output_path(args.output.as_deref(), file, &variant, "onnx")?;
    let format = match ModelFormat::from_path(&out) {
        Some(f @ (ModelFormat::Onnx | ModelFormat::Ir)) => f,
        _ => {
            return Err(Error::new(format!(
                "output must end in .onnx or .{}, got '{}'",
                nnopt::IR_EXTENSION,
                out.display()
            )))
        }
    };
    let mut g = nnopt::load_model(file)?;
    let progress = Progress::spinner(&format!("quantizing {}", file.display()));
    nnopt::optimize(&mut g, None, &RunOptions::default()).map_err(|e| e.in_file(file))?;
    let summary = nnopt::quantize(&mut g, &req).map_err(|e| e.in_file(file))?;
    progress.finish();
    for w in &summary.warnings {
        nnopt::diagnostics::warn(w);
    }
    let bytes = nnopt::export(&g, format).map_err(|e| e.in_file(file))?;
    write_atomically(&out, &bytes)?;
    if args.json {
        println!("{}", to_json(&summary));
    } else {
        print!("{}", nnopt::quantize::render(&summary));
        println!("wrote {} ({} bytes)", out.display(), bytes.len());
    }
    Ok(())
}
