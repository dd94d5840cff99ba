//! `nnopt compile`: compile a model for an NPU (.npub), or with `--target train` into a
//! training program (.ntp).

use super::calibration::CalibrationFlags;
use super::common::{file_stem, output_path, to_json, ThreadsArg};
use super::train::{compile_training, TrainArgs};
use clap::{Args, ValueEnum};
use nnopt::backends::npu::compress::WeightCoding;
use nnopt::backends::npu::target::Target;
use nnopt::calibration::CalibrationArgs;
use nnopt::compile::{NpuOptions, Precision};
use nnopt::output::write_all_atomically;
use nnopt::passes::TrainPrecision;
use nnopt::progress::Progress;
use nnopt::{Error, Result};
use std::path::{Path, PathBuf};

/// Examples in `nnopt compile --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt compile model.tflite --target npu                 # writes model.npub\n  nnopt compile model.tflite --target npu-512 -o m.npub --report report.html\n  nnopt compile model.tflite --csv perf/                 # perf/model_per-layer.csv, perf/model_summary.csv\n  nnopt compile model.onnx --target-config my_npu.yaml --json\n  nnopt compile float.tflite --target npu --calibration calib.npy   # int8 PTQ\n  nnopt compile float.tflite --precision fp8 --calibration calib.npy  # FP8 E4M3\n  nnopt compile float.onnx --calibration photos/ --pixel-range -1,1 --calibration-method mse\n  nnopt run model.npub --input x.npy --output y.npy\n  nnopt compile model.tflite --emit c -o fw/model       # fw/model/model.c, model.h for nnopt-rt\n  nnopt compile model.tflite --target train -o client.ntp          # FP8 training program\n  nnopt compile model.onnx --target train --precision fp32 --batch 32 --learning-rate 0.1\n  nnopt compile model.onnx --target train --reinit --seed 7 --json  # fresh He-initialized weights\n  nnopt inspect client.ntp\n\nTargets: npu (= npu-256), npu-128, npu-256, npu-512 (ideal rooflines) and npu-u55-128,\nnpu-u55-256, npu-u65-256 (fitted to Vela's Ethos-U estimates); their figures are in\nbackends/targets/*.yaml, and --target-config takes a file of the same form.\ntrain: a training program; precision fp8 (default) or fp32.";

/// Arguments of `nnopt compile`.
#[derive(Args)]
pub struct CompileArgs {
    /// Model file (.onnx, .tflite, or .nnir IR text).
    file: PathBuf,
    /// Target: an NPU preset, npu (= npu-256), npu-128, npu-256, npu-512, npu-u55-128,
    /// npu-u55-256 or npu-u65-256; or train, a training program (.ntp).
    #[arg(long, default_value = "npu")]
    target: String,
    /// Custom NPU description (YAML, like backends/targets/npu-256.yaml); overrides --target.
    #[arg(long, value_name = "FILE.yaml")]
    target_config: Option<PathBuf>,
    /// Output file (default: the model's file stem + .npub, or .ntp with --target
    /// train, beside the model); with --emit c, the directory (default: the stem +
    /// `_c`, beside the model).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// What to write for an NPU target: the .npub binary, or c: model.c (the binary as
    /// an aligned const array in its own section) and model.h (macros for the arena
    /// size and each input's and output's shape, type, scale and zero point) for the
    /// firmware runtime nnopt-rt (rt/capi/include/nnopt.h).
    #[arg(long, value_enum, default_value = "npub")]
    emit: EmitArg,
    /// How the int8 weights are coded: compressed (fewest bytes) or stored (read in
    /// place, no decoding at run time: firmware trades flash for speed). Default:
    /// compressed for .npub, stored for --emit c.
    #[arg(long, value_enum)]
    weight_coding: Option<WeightCodingArg>,
    /// With --emit c: prefix of the generated names (PREFIX_ARENA_SIZE, ...,
    /// prefix_data), so several models can share a firmware.
    #[arg(long, default_value = "nnopt_model", value_name = "NAME")]
    c_prefix: String,
    /// Write an HTML report: totals, calibration summary, per-layer charts (cycles by
    /// what bounds them, MAC utilization, the arena over the schedule, weight bytes; hover
    /// a bar for its layer) and the table.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Write the per-layer and summary figures as CSV files into DIR
    /// (MODEL_per-layer.csv, MODEL_summary.csv; the README lists the columns).
    #[arg(long, value_name = "DIR")]
    csv: Option<PathBuf>,
    /// Fail instead of running unsupported ops on the CPU.
    #[arg(long)]
    no_cpu_fallback: bool,
    /// Optimization pipeline (YAML) run before quantization and lowering; without
    /// it, the default pipeline.
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Print JSON for tools instead of the table.
    #[arg(long)]
    json: bool,
    /// NPU targets: quantization of float models, int8 (TFLite arithmetic, the
    /// default) or fp8 (E4M3 weights and layer inputs with f32 scales, f32 between
    /// layers; needs a float model). --target train: fp8 (the default) or fp32.
    #[arg(long, value_enum)]
    precision: Option<PrecisionArg>,
    #[command(flatten)]
    calibration: CalibrationFlags,
    #[command(flatten)]
    train: TrainArgs,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// `--emit` of `nnopt compile`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EmitArg {
    /// The `.npub` binary.
    Npub,
    /// C sources for the firmware runtime.
    C,
}

/// `--weight-coding` of `nnopt compile`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WeightCodingArg {
    Compressed,
    Stored,
}

/// `--precision` of `nnopt compile`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PrecisionArg {
    /// int8 (NPU targets).
    Int8,
    /// FP8: E4M3 on NPU targets; E4M3 forward and E5M2 gradients for training.
    Fp8,
    /// f32 (--target train).
    Fp32,
}

/// Checks which flags fit the target and compiles for it.
pub fn run(args: CompileArgs) -> Result<()> {
    let threads = args.threads;
    threads.install(move || compile(args))
}

fn compile(args: CompileArgs) -> Result<()> {
    let calibration = CalibrationArgs::from(args.calibration);
    if args.target == "train" {
        let npu_only = [
            ("--target-config", args.target_config.is_some()),
            ("--report", args.report.is_some()),
            ("--csv", args.csv.is_some()),
            ("--no-cpu-fallback", args.no_cpu_fallback),
            ("--pipeline", args.pipeline.is_some()),
            ("--emit c", args.emit == EmitArg::C),
            ("--weight-coding", args.weight_coding.is_some()),
            (
                "calibration options",
                calibration != CalibrationArgs::default(),
            ),
        ];
        if let Some((flag, _)) = npu_only.iter().find(|(_, given)| *given) {
            return Err(Error::new(format!(
                "{flag} does not apply to --target train"
            )));
        }
        let precision = match args.precision {
            None | Some(PrecisionArg::Fp8) => TrainPrecision::Fp8,
            Some(PrecisionArg::Fp32) => TrainPrecision::Fp32,
            Some(PrecisionArg::Int8) => {
                return Err(Error::new(
                    "--precision int8 is for NPU targets: training programs are \
                     fp8 or fp32",
                ))
            }
        };
        let opts = args.train.options(precision);
        return compile_training(&args.file, &opts, args.output.as_deref(), args.json);
    }
    if let Some(flag) = args.train.given().first() {
        return Err(Error::new(format!("{flag} only applies to --target train")));
    }
    let precision = match args.precision {
        None | Some(PrecisionArg::Int8) => Precision::Int8,
        Some(PrecisionArg::Fp8) => Precision::Fp8,
        Some(PrecisionArg::Fp32) => {
            return Err(Error::new(
                "--precision fp32 is for --target train: NPU targets take int8 or fp8",
            ))
        }
    };
    let target = match &args.target_config {
        Some(p) => Target::from_file(p)?,
        None => Target::preset(&args.target)?,
    };
    let opts = NpuOptions {
        target,
        precision,
        cpu_fallback: !args.no_cpu_fallback,
        calibration,
        pipeline: args.pipeline,
    };
    if args.emit == EmitArg::C {
        nnopt::firmware::check_prefix(&args.c_prefix)?;
        if precision == Precision::Fp8 {
            return Err(Error::new(
                "--emit c: the firmware runtime runs integer programs; compile with --precision int8",
            ));
        }
    }
    let emit_c = args.emit == EmitArg::C;
    let weight_coding = match (args.weight_coding, emit_c) {
        (Some(WeightCodingArg::Compressed), _) | (None, false) => WeightCoding::Compressed,
        (Some(WeightCodingArg::Stored), _) | (None, true) => WeightCoding::Stored,
    };
    let outputs = NpuOutputs {
        weight_coding,
        emit_c: (args.emit == EmitArg::C).then_some(args.c_prefix.as_str()),
        binary: args.output.as_deref(),
        report: args.report.as_deref(),
        csv: args.csv.as_deref(),
    };
    compile_npu(&args.file, &opts, &outputs, args.json)
}

/// The files `compile --target npu` writes besides printing.
struct NpuOutputs<'a> {
    weight_coding: WeightCoding,
    /// C sources with this prefix instead of the binary (`--emit c`).
    emit_c: Option<&'a str>,
    binary: Option<&'a Path>,
    report: Option<&'a Path>,
    csv: Option<&'a Path>,
}

/// Compiles for an NPU, writes the binary (and the HTML report and CSV files), and prints the
/// per-layer table or the JSON summary.
fn compile_npu(file: &Path, opts: &NpuOptions, outputs: &NpuOutputs, json: bool) -> Result<()> {
    let out = match (outputs.emit_c, outputs.binary) {
        (None, given) => output_path(given, file, "", nnopt::npub::EXTENSION)?,
        (Some(_), Some(dir)) => dir.to_path_buf(),
        (Some(_), None) => file.with_file_name(format!("{}_c", file_stem(file))),
    };
    let g = nnopt::load_model(file)?;
    let progress = Progress::spinner(&format!("compiling {}", file.display()));
    let compiled = nnopt::compile(g, opts).map_err(|e| e.in_file(file));
    progress.finish();
    let compiled = compiled?;
    for w in compiled.warnings() {
        nnopt::diagnostics::warn(w);
    }
    let model = file_stem(file);
    let binary = nnopt::firmware::binary_with(&compiled, outputs.weight_coding)?;
    let mut files = match outputs.emit_c {
        None => vec![(out.clone(), binary)],
        Some(prefix) => c_files(&compiled, &binary, prefix, file, &out)?,
    };
    if let Some(r) = outputs.report {
        let html = nnopt::report::npu::render_html(&compiled, &model);
        files.push((r.to_path_buf(), html.into_bytes()));
    }
    if let Some(dir) = outputs.csv {
        create_dir(dir)?;
        files.extend(nnopt::report::npu::csv_files(&compiled, &model, dir));
    }
    write_all_atomically(&files)?;
    let written: Vec<&PathBuf> = files.iter().map(|(p, _)| p).collect();
    if json {
        let mut v = serde_json::to_value(compiled.summary()).expect("summary serializes");
        v["output"] = serde_json::Value::String(out.display().to_string());
        v["written"] = written.iter().map(|p| p.display().to_string()).collect();
        println!("{}", to_json(&v));
    } else {
        print!("{}", nnopt::report::npu::render_table(&compiled, &model));
        for p in &written {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

/// `model.c` and `model.h` in `dir` (created if missing).
fn c_files(
    compiled: &nnopt::compile::Compiled,
    binary: &[u8],
    prefix: &str,
    file: &Path,
    dir: &Path,
) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let c =
        nnopt::firmware::c_sources(compiled, binary, prefix, &name).map_err(|e| e.in_file(file))?;
    create_dir(dir)?;
    Ok(vec![
        (dir.join("model.c"), c.source.into_bytes()),
        (dir.join("model.h"), c.header.into_bytes()),
    ])
}

/// Creates an output directory (and its parents) if missing.
fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot create the directory: {e}")).in_file(dir))
}
