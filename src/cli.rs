//! Command-line interface.

use clap::{Parser, Subcommand, ValueEnum};
use nnopt::backends::npu::cost::NpuCost;
use nnopt::backends::npu::target::Target;
use nnopt::compile::{compile_npu, NpuOptions, Precision};
use nnopt::compiler::cost::{DefaultCost, OpCost};
use nnopt::compiler::ir::text::{print_graph, PrintOptions};
use nnopt::compiler::pass::{PrintAfter, RunOptions};
use nnopt::npy::{read_npy, write_npy};
use nnopt::output::write_atomically;
use nnopt::passes::{TrainOptions, TrainPrecision};
use nnopt::quantize::{quantize_graph, render as render_quantize, QuantFormat, QuantizeRequest};
use nnopt::train::{
    compile_train, CompileOptions as TrainCompileOptions, DelayedScaling, MasterWeights,
};
use nnopt::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "nnopt",
    version,
    about = "A compiler for edge ML models: ONNX and TFLite in, optimized IR and NPU binaries out",
    after_help = "Examples:\n  nnopt compile model.tflite --target npu\n  nnopt run model.npub --input x.npy\n  nnopt inspect model.onnx\n  nnopt inspect model.tflite --json\n  nnopt compile model.tflite --target train -o client.ntp\n  nnopt run model.tflite --input x.npy --output y.npy\n  nnopt opt model.onnx --emit onnx -o model.opt.onnx\n  nnopt opt model.onnx --pipeline my.yaml --print-after constant-folding\n  nnopt quantize model.onnx --format e4m3 --per-channel -o model_e4m3.onnx"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Federated learning: simulate FedAvg with clients running a training program.
    #[command(subcommand)]
    Fl(nnopt::fl::command::FlCommand),
    /// Describe a model: inputs, outputs, op histogram, parameters, MACs, tensor memory;
    /// or an NPU binary (.npub), or a training program (.ntp: format, parameters,
    /// precision plan, hyper-parameters, step graphs).
    #[command(
        after_help = "Examples:\n  nnopt inspect model.onnx\n  nnopt inspect model.tflite --json | jq .macs\n  nnopt inspect model.npub\n  nnopt inspect client.ntp --json"
    )]
    Inspect {
        /// Model file (.onnx, .tflite, .nnir IR text), NPU binary (.npub) or training
        /// program (.ntp).
        file: PathBuf,
        /// Print JSON for tools instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a model in the reference interpreter on .npy inputs.
    ///
    /// Inputs and outputs use the model's own dtypes. An input whose leading dimension is
    /// k times the model's batch runs k times and the outputs are stacked.
    #[command(
        after_help = "Examples:\n  nnopt run model.onnx --input x.npy --output y.npy\n  nnopt run two_inputs.onnx --input a.npy --input b.npy --output out.npy"
    )]
    Run {
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
    },
    /// Optimize a model with a pass pipeline and write IR text or ONNX.
    #[command(
        after_help = "Examples:\n  nnopt opt model.onnx                      # default pipeline, IR on stdout\n  nnopt opt model.onnx --emit onnx -o opt.onnx\n  nnopt opt model.onnx --target npu --stats -o opt.nnir   # extract by NPU cycles\n  nnopt opt model.onnx --pipeline p.yaml --print-after-all\n\nPipeline files are YAML:\n  name: mine\n  passes:\n    - identity-removal\n    - name: constant-folding\n      options: { max_elements: 65536 }\n    - dead-node-elimination"
    )]
    Opt {
        /// Model file (.onnx, .tflite, or .nnir IR text).
        file: PathBuf,
        /// Pipeline file (YAML); without it, the default pipeline runs.
        #[arg(long)]
        pipeline: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Emit::Ir)]
        emit: Emit,
        /// Output file (stdout for IR when absent; required for ONNX).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Print the IR after every pass (to stderr).
        #[arg(long)]
        print_after_all: bool,
        /// Print the IR after the named pass (repeatable; to stderr).
        #[arg(long, value_name = "NAME")]
        print_after: Vec<String>,
        /// Verify the IR after every pass (always on in debug builds).
        #[arg(long)]
        verify: bool,
        /// Print per-pass statistics as JSON (to stderr) for tools.
        #[arg(long)]
        json: bool,
        /// Print each pass's own statistics (e-graph size, iterations, stop reason, rule
        /// hits, cost before/after) and timing to stderr.
        #[arg(long)]
        stats: bool,
        /// Optimize for this NPU preset: the e-graph optimizer extracts by its
        /// performance model's cycles (npu, npu-128, npu-256, npu-512).
        #[arg(long)]
        target: Option<String>,
        /// Optimize for a custom NPU description (YAML); overrides --target.
        #[arg(long, value_name = "FILE.yaml")]
        target_config: Option<PathBuf>,
    },
    /// Compile a model for an NPU: quantized ops become NPU commands (the rest CPU
    /// fallback), activations share one arena, weights are compressed losslessly, and a
    /// checksummed .npub binary is written; prints the per-layer performance estimate.
    ///
    /// With --target train, compile a float model into a training program (.ntp) for
    /// edge clients: one graph per precision doing forward, backward (softmax
    /// cross-entropy) and SGD with momentum; FP8 programs quantize conv and gemm inputs
    /// to E4M3 and their output gradients to E5M2 with delayed scaling, and carry the
    /// FP32 step too.
    #[command(
        after_help = "Examples:\n  nnopt compile model.tflite --target npu                 # writes model.npub\n  nnopt compile model.tflite --target npu-512 -o m.npub --report report.html\n  nnopt compile model.onnx --target-config my_npu.yaml --json\n  nnopt compile float.tflite --target npu --calibration calib.npy   # int8 PTQ\n  nnopt compile float.tflite --precision fp8 --calibration calib.npy  # FP8 E4M3\n  nnopt compile float.onnx --calibration photos/ --pixel-range -1,1 --calibration-method mse\n  nnopt run model.npub --input x.npy --output y.npy\n  nnopt compile model.tflite --target train -o client.ntp          # FP8 training program\n  nnopt compile model.onnx --target train --precision fp32 --batch 32 --learning-rate 0.1\n  nnopt compile model.onnx --target train --reinit --seed 7 --json  # fresh Glorot weights\n  nnopt inspect client.ntp\n\nTargets: npu (= npu-256), npu-128, npu-256, npu-512; their figures are in\nbackends/targets/*.yaml, and --target-config takes a file of the same form.\ntrain: a training program; precision fp8 (default) or fp32."
    )]
    Compile {
        /// Model file (.onnx, .tflite, or .nnir IR text).
        file: PathBuf,
        /// Target: an NPU preset, npu (= npu-256), npu-128, npu-256 or npu-512; or train,
        /// a training program (.ntp).
        #[arg(long, default_value = "npu")]
        target: String,
        /// Custom NPU description (YAML, like backends/targets/npu-256.yaml); overrides --target.
        #[arg(long, value_name = "FILE.yaml")]
        target_config: Option<PathBuf>,
        /// Output file (default: the model's file stem + .npub, or .ntp with --target
        /// train, beside the model).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Write an HTML report with per-layer charts.
        #[arg(long, value_name = "FILE.html")]
        report: Option<PathBuf>,
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
        calibration: nnopt::calibration::CalibrationArgs,
        #[command(flatten)]
        train: TrainArgs,
    },
    /// Export a model as TFLite: quantized graphs become int8 TFLite (per-channel
    /// weights, int32 biases, QUANTIZE / DEQUANTIZE at float boundaries), float graphs
    /// float TFLite; NCHW (ONNX) graphs are converted to NHWC.
    #[command(
        after_help = "Examples:\n  nnopt export model_int8.tflite -o copy.tflite\n  nnopt export model.onnx -o model.tflite                      # float TFLite\n  nnopt export model.onnx --int8 --calibration calib.npy -o model_int8.tflite"
    )]
    Export {
        /// Model file (.onnx, .tflite, or .nnir IR text).
        file: PathBuf,
        /// Write an int8 model: float models are quantized like `nnopt compile` does
        /// (int8 post-training quantization with the calibration options below).
        #[arg(long)]
        int8: bool,
        #[command(flatten)]
        calibration: nnopt::calibration::CalibrationArgs,
        /// Output .tflite file.
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Quantize a float model to FP8 (E4M3, E5M2) or int8 and write it as QDQ ONNX
    /// (QuantizeLinear / DequantizeLinear around float ops, opset 19 for FP8; opens in
    /// Netron and onnxruntime) or as IR text (.nnir).
    ///
    /// Conv and Gemm weights get FP8 codes with per-tensor scales (per output channel
    /// with --per-channel); their data inputs are quantized with scales calibrated on
    /// --calibration data (random inputs, with a warning, when none is given).
    #[command(
        after_help = "Examples:\n  nnopt quantize model.onnx --format e4m3 --per-channel -o model_e4m3.onnx\n  nnopt quantize model.tflite --format e5m2 --calibration images/ -o model_e5m2.onnx\n  nnopt quantize model.onnx --format int8 --calibration x.npy -o model.nnir\n  nnopt quantize model.onnx --format e4m3 --weights-only --json -o w8.onnx"
    )]
    Quantize {
        /// Model file (.onnx, .tflite, or .nnir IR text).
        file: PathBuf,
        /// Number format of weights and data.
        #[arg(long, value_enum, default_value_t = QuantFormat::E4m3)]
        format: QuantFormat,
        /// One weight scale per output channel instead of one per tensor.
        #[arg(long)]
        per_channel: bool,
        /// FP8 only: quantize weights, keep data in f32.
        #[arg(long)]
        weights_only: bool,
        #[command(flatten)]
        calibration: nnopt::calibration::CalibrationData,
        /// Output file: .onnx (QDQ ONNX) or .nnir (IR text). Default: the model's file
        /// stem + _FORMAT.onnx, beside the model.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Print JSON for tools instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// List the passes that pipelines can name, and print the default pipeline.
    Passes,
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

/// Options of `nnopt compile --target train`.
#[derive(clap::Args)]
#[command(next_help_heading = "Training programs (--target train)")]
struct TrainArgs {
    /// Samples per training step [default: 16].
    #[arg(long)]
    batch: Option<usize>,
    /// SGD learning rate [default: 0.05].
    #[arg(long)]
    learning_rate: Option<f32>,
    /// SGD momentum [default: 0.9].
    #[arg(long)]
    momentum: Option<f32>,
    /// L2 weight decay [default: 1e-4].
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Steps of amax history behind each FP8 scale (delayed scaling) [default: 16].
    #[arg(long)]
    amax_history: Option<usize>,
    /// Headroom of each FP8 scale: the history's amax maps to the format's largest value
    /// times 2^-N [default: 1].
    #[arg(long, value_name = "N")]
    amax_margin: Option<i32>,
    /// How clients keep their weights between steps [default: f32].
    #[arg(long, value_enum)]
    master_weights: Option<MasterWeightsArg>,
    /// Start from fresh weights (Glorot-uniform weights, zero biases) instead of the
    /// model's.
    #[arg(long)]
    reinit: bool,
    /// Seed of --reinit [default: 0].
    #[arg(long, requires = "reinit")]
    seed: Option<u64>,
}

/// `--master-weights`.
#[derive(Clone, Copy, ValueEnum)]
enum MasterWeightsArg {
    /// f32 master weights.
    F32,
    /// E4M3 weights (per-tensor scale, stochastic rounding) after each step.
    Fp8,
}

impl TrainArgs {
    /// The options given, by flag name (to reject them on NPU targets).
    fn given(&self) -> Vec<&'static str> {
        [
            ("--batch", self.batch.is_some()),
            ("--learning-rate", self.learning_rate.is_some()),
            ("--momentum", self.momentum.is_some()),
            ("--weight-decay", self.weight_decay.is_some()),
            ("--amax-history", self.amax_history.is_some()),
            ("--amax-margin", self.amax_margin.is_some()),
            ("--master-weights", self.master_weights.is_some()),
            ("--reinit", self.reinit),
            ("--seed", self.seed.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// The compile options, defaults filled in.
    fn options(&self, precision: TrainPrecision) -> TrainCompileOptions {
        let train = TrainOptions::default();
        TrainCompileOptions {
            train: TrainOptions {
                learning_rate: self.learning_rate.unwrap_or(train.learning_rate),
                momentum: self.momentum.unwrap_or(train.momentum),
                weight_decay: self.weight_decay.unwrap_or(train.weight_decay),
                precision,
            },
            batch: self.batch.unwrap_or(16),
            scaling: DelayedScaling {
                history: self
                    .amax_history
                    .unwrap_or(DelayedScaling::default().history),
                margin: self.amax_margin.unwrap_or(DelayedScaling::default().margin),
            },
            master_weights: match self.master_weights {
                None | Some(MasterWeightsArg::F32) => MasterWeights::F32,
                Some(MasterWeightsArg::Fp8) => MasterWeights::Fp8,
            },
            reinit: self.reinit.then(|| self.seed.unwrap_or(0)),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// nnopt IR text form.
    Ir,
    /// ONNX model.
    Onnx,
}

/// Parses the command line and runs the command.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Inspect { file, json } => inspect(&file, json),
        Command::Fl(command) => nnopt::fl::command::run(command),
        Command::Run {
            file,
            input,
            output,
            json,
        } => run(&file, &input, &output, json),
        Command::Opt {
            file,
            pipeline,
            emit,
            output,
            print_after_all,
            print_after,
            verify,
            json,
            stats,
            target,
            target_config,
        } => {
            let print_after = if print_after_all {
                PrintAfter::All
            } else if print_after.is_empty() {
                PrintAfter::None
            } else {
                PrintAfter::Names(print_after)
            };
            let opts = RunOptions {
                verify,
                print_after,
                print_options: PrintOptions::summary(),
            };
            let cost: Arc<dyn OpCost> = match (target_config, target) {
                (Some(p), _) => Arc::new(NpuCost::new(Target::from_file(&p)?)),
                (None, Some(t)) => Arc::new(NpuCost::new(Target::preset(&t)?)),
                (None, None) => Arc::new(DefaultCost),
            };
            opt(
                &file,
                pipeline.as_deref(),
                emit,
                output.as_deref(),
                &opts,
                OptReport { json, stats },
                cost,
            )
        }
        Command::Compile {
            file,
            target,
            target_config,
            output,
            report,
            no_cpu_fallback,
            pipeline,
            json,
            precision,
            calibration,
            train,
        } => {
            if target == "train" {
                let npu_only = [
                    ("--target-config", target_config.is_some()),
                    ("--report", report.is_some()),
                    ("--no-cpu-fallback", no_cpu_fallback),
                    ("--pipeline", pipeline.is_some()),
                    (
                        "calibration options",
                        calibration != nnopt::calibration::CalibrationArgs::default(),
                    ),
                ];
                if let Some((flag, _)) = npu_only.iter().find(|(_, given)| *given) {
                    return Err(Error::new(format!(
                        "{flag} does not apply to --target train"
                    )));
                }
                let precision = match precision {
                    None | Some(PrecisionArg::Fp8) => TrainPrecision::Fp8,
                    Some(PrecisionArg::Fp32) => TrainPrecision::Fp32,
                    Some(PrecisionArg::Int8) => {
                        return Err(Error::new(
                            "--precision int8 is for NPU targets: training programs are \
                             fp8 or fp32",
                        ))
                    }
                };
                return compile_training(&file, &train.options(precision), output.as_deref(), json);
            }
            if let Some(flag) = train.given().first() {
                return Err(Error::new(format!("{flag} only applies to --target train")));
            }
            let precision = match precision {
                None | Some(PrecisionArg::Int8) => Precision::Int8,
                Some(PrecisionArg::Fp8) => Precision::Fp8,
                Some(PrecisionArg::Fp32) => {
                    return Err(Error::new(
                        "--precision fp32 is for --target train: NPU targets take int8 or fp8",
                    ))
                }
            };
            let target = match target_config {
                Some(p) => Target::from_file(&p)?,
                None => Target::preset(&target)?,
            };
            let opts = NpuOptions {
                target,
                precision,
                cpu_fallback: !no_cpu_fallback,
                calibration,
                pipeline,
            };
            compile(&file, &opts, output.as_deref(), report.as_deref(), json)
        }
        Command::Export {
            file,
            int8,
            calibration,
            output,
        } => export(&file, int8, &calibration, &output),
        Command::Quantize {
            file,
            format,
            per_channel,
            weights_only,
            calibration,
            output,
            json,
        } => {
            let req = QuantizeRequest {
                format,
                per_channel,
                weights_only,
                data: calibration,
            };
            quantize(&file, &req, output.as_deref(), json)
        }
        Command::Passes => {
            for (name, description) in nnopt::passes::registry().list() {
                println!("{name:<24} {description}");
            }
            println!("\ndefault pipeline:\n{}", nnopt::passes::DEFAULT_PIPELINE);
            Ok(())
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("summaries serialize")
}

fn inspect(file: &Path, json: bool) -> Result<()> {
    if nnopt::train::ntp::is_ntp(file) {
        let (p, bytes) = nnopt::train::ntp::load(file)?;
        let d = nnopt::train::ntp::describe(&p, bytes);
        if json {
            println!("{}", to_json(&d));
        } else {
            print!("{}", nnopt::train::ntp::render(&d));
        }
        return Ok(());
    }
    if nnopt::npub::is_npub(file) {
        let (p, t, bytes) = nnopt::npub::load(file)?;
        let d = nnopt::npub::describe(&p, &t, bytes);
        if json {
            println!("{}", to_json(&d));
        } else {
            print!("{}", nnopt::npub::render(&d));
        }
        return Ok(());
    }
    let g = nnopt::load_model(file)?;
    let s = nnopt::summary::summarize(&g);
    if json {
        println!("{}", to_json(&s));
    } else {
        print!("{}", nnopt::summary::render(&s));
    }
    Ok(())
}

fn output_paths(requested: &[PathBuf], count: usize) -> Result<Vec<PathBuf>> {
    match requested.len() {
        0 => Ok(vec![]),
        n if n == count => Ok(requested.to_vec()),
        1 => {
            let p = &requested[0];
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((0..count)
                .map(|k| p.with_file_name(format!("{stem}_{k}.npy")))
                .collect())
        }
        n => Err(Error::new(format!(
            "the model has {count} outputs but {n} --output paths were given"
        ))),
    }
}

fn run(file: &Path, inputs: &[PathBuf], outputs: &[PathBuf], json: bool) -> Result<()> {
    let tensors = inputs
        .iter()
        .map(|p| read_npy(p))
        .collect::<Result<Vec<_>>>()?;
    let (results, names) = if nnopt::npub::is_npub(file) {
        let (p, _, _) = nnopt::npub::load(file)?;
        let shapes: Vec<Vec<usize>> = p.inputs.iter().map(|b| b.shape.clone()).collect();
        let results = nnopt::batch::run_batched_with(&shapes, &tensors, |x| {
            nnopt::backends::npu::vnpu::run(&p, x)
        })
        .map_err(|e| e.in_file(file))?;
        (results, p.outputs.iter().map(|b| b.name.clone()).collect())
    } else {
        let g = nnopt::load_model(file)?;
        let results = nnopt::batch::run_batched(&g, &tensors).map_err(|e| e.in_file(file))?;
        let names: Vec<String> = g
            .outputs()
            .iter()
            .map(|&v| g.value(v).name.clone())
            .collect();
        (results, names)
    };
    let paths = output_paths(outputs, results.len())?;
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
        if !json {
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
    if json {
        println!("{}", to_json(&report));
    }
    Ok(())
}

/// What `nnopt opt` prints about the passes (to stderr).
struct OptReport {
    json: bool,
    stats: bool,
}

fn opt(
    file: &Path,
    pipeline: Option<&Path>,
    emit: Emit,
    output: Option<&Path>,
    opts: &RunOptions,
    report: OptReport,
    cost: Arc<dyn OpCost>,
) -> Result<()> {
    let mut g = nnopt::load_model(file)?;
    let records =
        nnopt::optimize_with_cost(&mut g, pipeline, opts, cost).map_err(|e| e.in_file(file))?;
    for r in &records {
        if let Some(dump) = &r.dump {
            eprintln!("// IR after {}\n{dump}", r.pass);
        }
    }
    if report.stats {
        for r in &records {
            eprintln!(
                "{:<24} {:>9.3} ms  nodes {} -> {}{}",
                r.pass,
                r.micros as f64 / 1e3,
                r.nodes_before,
                r.nodes_after,
                if r.changed { "" } else { "  (unchanged)" }
            );
            if let Some(s) = &r.stats {
                for line in s.text.lines() {
                    eprintln!("    {line}");
                }
            }
        }
    }
    if report.json {
        let stats: Vec<_> = records
            .iter()
            .map(|r| serde_json::json!({"pass": r.pass, "changed": r.changed, "nodes_before": r.nodes_before, "nodes_after": r.nodes_after, "micros": r.micros, "stats": r.stats.as_ref().map(|s| &s.json)}))
            .collect();
        eprintln!("{}", to_json(&stats));
    }
    match emit {
        Emit::Ir => {
            let text = print_graph(&g, &PrintOptions::default());
            match output {
                Some(p) => write_atomically(p, text.as_bytes()),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Emit::Onnx => {
            let p = output.ok_or_else(|| Error::new("--emit onnx needs --output FILE"))?;
            let bytes = nnopt::formats::onnx::export_onnx(&g)?;
            write_atomically(p, &bytes)
        }
    }
}

fn export(
    file: &Path,
    int8: bool,
    calibration: &nnopt::calibration::CalibrationArgs,
    output: &Path,
) -> Result<()> {
    if !int8 && *calibration != nnopt::calibration::CalibrationArgs::default() {
        return Err(Error::new("calibration options only apply with --int8"));
    }
    let mut g = nnopt::load_model(file)?;
    nnopt::optimize(&mut g, None, &RunOptions::default()).map_err(|e| e.in_file(file))?;
    if int8 {
        let report =
            nnopt::calibration::quantize(&mut g, calibration).map_err(|e| e.in_file(file))?;
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    let bytes = nnopt::formats::tflite::export_tflite(&g).map_err(|e| e.in_file(file))?;
    write_atomically(output, &bytes)?;
    println!("wrote {} ({} bytes)", output.display(), bytes.len());
    Ok(())
}

fn quantize(file: &Path, req: &QuantizeRequest, output: Option<&Path>, json: bool) -> Result<()> {
    let out = match output {
        Some(p) => p.to_path_buf(),
        None => {
            let stem = file.file_stem().unwrap_or_default().to_string_lossy();
            file.with_file_name(format!("{stem}_{}.onnx", req.format.name()))
        }
    };
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != "onnx" && ext != nnopt::IR_EXTENSION {
        return Err(Error::new(format!(
            "output must end in .onnx or .{}, got '{}'",
            nnopt::IR_EXTENSION,
            out.display()
        )));
    }
    let mut g = nnopt::load_model(file)?;
    nnopt::optimize(&mut g, None, &RunOptions::default()).map_err(|e| e.in_file(file))?;
    let summary = quantize_graph(&mut g, req).map_err(|e| e.in_file(file))?;
    for w in &summary.warnings {
        eprintln!("warning: {w}");
    }
    let bytes = if ext == "onnx" {
        nnopt::formats::onnx::export_onnx(&g).map_err(|e| e.in_file(file))?
    } else {
        print_graph(&g, &PrintOptions::default()).into_bytes()
    };
    write_atomically(&out, &bytes)?;
    if json {
        println!("{}", to_json(&summary));
    } else {
        print!("{}", render_quantize(&summary));
        println!("wrote {} ({} bytes)", out.display(), bytes.len());
    }
    Ok(())
}

fn compile(
    file: &Path,
    opts: &NpuOptions,
    output: Option<&Path>,
    report: Option<&Path>,
    json: bool,
) -> Result<()> {
    let g = nnopt::load_model(file)?;
    let compiled = compile_npu(g, opts).map_err(|e| e.in_file(file))?;
    for w in compiled.warnings() {
        eprintln!("warning: {w}");
    }
    let out = match output {
        Some(p) => p.to_path_buf(),
        None => file.with_extension(nnopt::npub::EXTENSION),
    };
    write_atomically(&out, &compiled.binary)?;
    let model = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(r) = report {
        let html = nnopt::npu_report::render_html(&compiled, &model)?;
        write_atomically(r, html.as_bytes())?;
    }
    if json {
        let mut v = serde_json::to_value(compiled.summary()).expect("summary serializes");
        v["output"] = serde_json::Value::String(out.display().to_string());
        println!("{}", to_json(&v));
    } else {
        print!("{}", nnopt::npu_report::render_table(&compiled, &model));
        println!("wrote {}", out.display());
    }
    Ok(())
}

fn compile_training(
    file: &Path,
    opts: &TrainCompileOptions,
    output: Option<&Path>,
    json: bool,
) -> Result<()> {
    let g = nnopt::load_model(file)?;
    let compiled = compile_train(&g, opts).map_err(|e| e.in_file(file))?;
    let out = match output {
        Some(p) => p.to_path_buf(),
        None => file.with_extension(nnopt::train::ntp::EXTENSION),
    };
    write_atomically(&out, &compiled.bytes)?;
    let d = nnopt::train::ntp::describe(&compiled.program, compiled.bytes.len());
    if json {
        /// The description, the output file and the compile time (serialized directly:
        /// through a `serde_json::Value`, f32 values would print as their f64 expansion).
        #[derive(serde::Serialize)]
        struct Summary<'a> {
            #[serde(flatten)]
            program: &'a nnopt::train::ntp::Description,
            output: String,
            compile_ms: f64,
        }
        let summary = Summary {
            program: &d,
            output: out.display().to_string(),
            compile_ms: compiled.compile_ms,
        };
        println!("{}", to_json(&summary));
    } else {
        print!("{}", nnopt::train::ntp::render(&d));
        println!("wrote {} in {:.0} ms", out.display(), compiled.compile_ms);
    }
    Ok(())
}
