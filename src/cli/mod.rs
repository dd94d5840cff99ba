//! The `nnopt` command line: the [`Cli`] and its subcommands, dispatched to one module
//! per subcommand.

mod analyze_noise;
mod calibration;
mod common;
mod compare;
mod compile;
mod compress;
mod costmodel;
mod export;
mod fixynn;
mod fl;
mod inspect;
mod monitor;
mod ops;
mod opt;
mod passes;
mod predict;
mod quantize;
mod run;
mod train;

use clap::{Parser, Subcommand};
use nnopt::diagnostics::{format, set_format, MessageFormat};
use nnopt::Result;

#[derive(Parser)]
#[command(
    name = "nnopt",
    version,
    about = "A compiler for edge ML models: ONNX and TFLite in, optimized IR and NPU binaries out",
    after_help = "Examples:\n  nnopt inspect model.tflite                          # inputs, ops, parameters, MACs\n  nnopt compile model.tflite                          # -> model.npub for the NPU, with a report\n  nnopt run model.npub --random                       # run on the virtual NPU\n  nnopt compare model.tflite model.npub --random      # errors, SNR, top-1 agreement\n  nnopt opt model.onnx --emit onnx -o model.opt.onnx\n  nnopt quantize model.onnx --format e4m3 --per-channel -o model_e4m3.onnx\n  nnopt export model.onnx --int8 --calibration calib.npy -o model_int8.tflite\n  nnopt compile model.tflite --target train --reinit -o client.ntp\n  nnopt fl simulate --program client.ntp --data digits.csv.gz --compare\n\n`nnopt COMMAND --help` shows each command's options and examples."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How warnings and errors are printed on stderr: human text, or json (one object a
    /// line with level, message, file, node and the rendered text, for build tools).
    #[arg(long, global = true, value_enum, default_value = "human")]
    message_format: MessageFormatArg,
}

/// `--message-format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MessageFormatArg {
    Human,
    Json,
}

/// Whether the raw arguments ask for JSON messages (read before parsing, so that
/// argument errors are JSON too).
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--message-format=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--message-format" && w[1] == "json")
}

#[derive(Subcommand)]
enum Command {
    /// The learned cost model: datasets of random int8 networks labelled by Vela, LiteRT
    /// and nnopt's NPU estimate; training and scoring the GraphSAGE predictor.
    #[command(subcommand)]
    Costmodel(costmodel::CostmodelCommand),
    /// Federated learning: simulate FedAvg-style training with clients running a training
    /// program.
    #[command(subcommand)]
    Fl(fl::FlCommand),
    /// Describe a model: inputs, outputs, op histogram, parameters, MACs, tensor memory;
    /// or an NPU binary (.npub), or a training program (.ntp: format, parameters,
    /// precision plan, hyper-parameters, step graphs).
    #[command(after_help = inspect::EXAMPLES)]
    Inspect(inspect::InspectArgs),
    /// Run a model (reference interpreter) or an NPU binary (.npub, virtual NPU) on .npy
    /// or random inputs; print its outputs or write them as .npy.
    ///
    /// Inputs and outputs use the model's own dtypes. An input whose leading dimension is
    /// k times the model's batch runs k times and the outputs are stacked.
    #[command(after_help = run::EXAMPLES)]
    Run(run::RunArgs),
    /// Run two models (or a model and reference .npy outputs) on the same inputs and
    /// print per output the max abs / rel error, SNR and top-1 agreement.
    #[command(after_help = compare::EXAMPLES)]
    Compare(compare::CompareArgs),
    /// Optimize a model with a pass pipeline and write IR text or ONNX.
    #[command(after_help = opt::EXAMPLES)]
    Opt(opt::OptArgs),
    /// Compile a model for an NPU: quantized ops become NPU commands (the rest CPU
    /// fallback), activations share one arena, weights are compressed losslessly, and a
    /// checksummed .npub binary is written; prints the per-layer performance estimate.
    ///
    /// With --target train, compile a float model into a training program (.ntp) for
    /// edge clients: one graph per precision doing forward and backward (softmax
    /// cross-entropy), whose gradients the client applies with SGD with momentum (or
    /// AdamW); FP8 programs quantize conv and gemm inputs to E4M3 and their output
    /// gradients to E5M2 with delayed scaling, and carry the FP32 step too.
    #[command(after_help = compile::EXAMPLES)]
    Compile(Box<compile::CompileArgs>),
    /// Compress a float model to a budget of encoded weight bytes: a search (UDC) over
    /// each layer's weight bits (2 to 8) and sparsity, trained on your data, with
    /// quantization-aware fine-tuning; writes the int8 model (.npub, .tflite or .onnx)
    /// and compares it with dense int8, magnitude pruning and greedy bit allocation.
    #[command(after_help = compress::EXAMPLES)]
    Compress(Box<compress::CompressArgs>),
    /// Split a CNN into a hard-wired int8 front-end shared by tasks (synthesizable
    /// Verilog, FixyNN) and per-task back-ends for the NPU (.npub), trained by transfer
    /// learning; simulate and synthesize the RTL, and price both against an
    /// all-programmable accelerator of the same area.
    #[command(after_help = fixynn::EXAMPLES)]
    Fixynn(Box<fixynn::FixynnArgs>),
    /// Export a model as TFLite: quantized graphs become int8 TFLite (per-channel
    /// weights, int32 biases, QUANTIZE / DEQUANTIZE at float boundaries), float graphs
    /// float TFLite; NCHW (ONNX) graphs are converted to NHWC.
    #[command(after_help = export::EXAMPLES)]
    Export(export::ExportArgs),
    /// Quantize a float model to FP8 (E4M3, E5M2) or int8 and write it as QDQ ONNX
    /// (QuantizeLinear / DequantizeLinear around float ops, opset 19 for FP8; opens in
    /// Netron and onnxruntime) or as IR text (.nnir).
    ///
    /// Conv and Gemm weights get FP8 codes with per-tensor scales (per output channel
    /// with --per-channel); their data inputs are quantized with scales calibrated on
    /// --calibration data (random inputs, with a warning, when none is given).
    #[command(after_help = quantize::EXAMPLES)]
    Quantize(quantize::QuantizeArgs),
    /// List the operators each importer reads and the ones the NPU runs (with their
    /// constraints); the rest runs on the CPU.
    #[command(after_help = ops::EXAMPLES)]
    Ops(ops::OpsArgs),
    /// Predict a model's cycles, latency, SRAM, off-chip traffic and energy on a device
    /// (Ethos-U as Vela estimates it, nnopt's NPU, the CPU) with the learned cost model
    /// (GraphSAGE), in total and per operator.
    #[command(after_help = predict::EXAMPLES)]
    Predict(predict::PredictArgs),
    /// Detect changepoints in a stream measured at several fidelities (cheap and noisy or
    /// costly and precise): Bayesian online changepoint detection, choosing each step's
    /// fidelity by the information gain about the run length per unit cost (or always
    /// the costliest, the cheapest, at random; optionally within a budget).
    #[command(after_help = monitor::EXAMPLES)]
    Monitor(monitor::MonitorArgs),
    /// Information bounds of a binary network whose neurons flip with probability eps
    /// (percolation and Evans-Schulman bounds, minimum width by Fano; standard bounds,
    /// labelled as such), and with --data Monte-Carlo accuracy and I(label; prediction)
    /// on the test split checked against them.
    #[command(after_help = analyze_noise::EXAMPLES)]
    AnalyzeNoise(analyze_noise::AnalyzeNoiseArgs),
    /// List the passes that pipelines can name, and print the default pipeline.
    #[command(after_help = passes::EXAMPLES)]
    Passes,
}

/// Parses the command line and runs the command.
pub fn main() -> Result<()> {
    if json_requested() {
        set_format(MessageFormat::Json);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if format() == MessageFormat::Json && e.use_stderr() => {
            // clap's message up to its usage and help lines, on one line.
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let message = message.join(" ");
            nnopt::diagnostics::error(&nnopt::Error::new(message.trim_start_matches("error: ")));
            std::process::exit(2)
        }
        Err(e) => e.exit(),
    };
    set_format(match cli.message_format {
        MessageFormatArg::Human => MessageFormat::Human,
        MessageFormatArg::Json => MessageFormat::Json,
    });
    match cli.command {
        Command::Costmodel(command) => costmodel::run(command),
        Command::Fl(command) => fl::run(command),
        Command::Inspect(args) => inspect::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Opt(args) => opt::run(args),
        Command::Compile(args) => compile::run(*args),
        Command::Compress(args) => compress::run(*args),
        Command::Export(args) => export::run(args),
        Command::Fixynn(args) => fixynn::run(*args),
        Command::Quantize(args) => quantize::run(args),
        Command::Ops(args) => ops::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::AnalyzeNoise(args) => analyze_noise::run(&args),
        Command::Passes => passes::run(),
    }
}
