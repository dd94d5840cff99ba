//! The `nnopt compile --target train` flags and the training-program compilation.

use super::common::{output_path, to_json};
use clap::{Args, ValueEnum};
use nnopt::output::write_atomically;
use nnopt::passes::{InitScheme, TrainPrecision};
use nnopt::progress::Progress;
use nnopt::train::{
    compile_train, CompileOptions as TrainCompileOptions, DelayedScaling, MasterWeights, Optimizer,
    OptimizerKind, DEFAULT_BATCH,
};
use nnopt::Result;
use std::path::Path;

/// Options of `nnopt compile --target train`.
#[derive(Args)]
#[command(next_help_heading = "Training programs (--target train)")]
pub struct TrainArgs {
    /// Samples per training step [default: 16].
    #[arg(long)]
    batch: Option<usize>,
    /// The update rule clients apply to each step's gradients [default: sgd].
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerArg>,
    /// Learning rate [default: 0.05 for sgd, 0.003 for adamw].
    #[arg(long)]
    learning_rate: Option<f32>,
    /// SGD momentum, or AdamW's beta1 [default: 0.9].
    #[arg(long)]
    momentum: Option<f32>,
    /// AdamW's beta2 [default: 0.999].
    #[arg(long)]
    beta2: Option<f32>,
    /// Weight decay: an L2 term for sgd, decoupled for adamw [default: 1e-4 for sgd,
    /// 0.01 for adamw].
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Steps of linear learning-rate warm-up, counted over all of a client's steps
    /// [default: 0].
    #[arg(long, value_name = "STEPS")]
    warmup_steps: Option<u32>,
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
    /// Start from fresh weights (drawn by --init, zero biases) instead of the model's.
    #[arg(long)]
    reinit: bool,
    /// Seed of --reinit [default: 0].
    #[arg(long, requires = "reinit")]
    seed: Option<u64>,
    /// How --reinit draws weights: he (Kaiming uniform, scaled by the gain of the
    /// activation after each layer) or glorot (Xavier uniform) [default: he].
    #[arg(long, value_enum, requires = "reinit")]
    init: Option<InitArg>,
}

/// `--optimizer`.
#[derive(Clone, Copy, ValueEnum)]
enum OptimizerArg {
    /// SGD with momentum and L2 weight decay.
    Sgd,
    /// AdamW (Adam with decoupled weight decay).
    Adamw,
}

/// `--init`.
#[derive(Clone, Copy, ValueEnum)]
enum InitArg {
    He,
    Glorot,
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
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--batch", self.batch.is_some()),
            ("--optimizer", self.optimizer.is_some()),
            ("--learning-rate", self.learning_rate.is_some()),
            ("--momentum", self.momentum.is_some()),
            ("--beta2", self.beta2.is_some()),
            ("--weight-decay", self.weight_decay.is_some()),
            ("--warmup-steps", self.warmup_steps.is_some()),
            ("--amax-history", self.amax_history.is_some()),
            ("--amax-margin", self.amax_margin.is_some()),
            ("--master-weights", self.master_weights.is_some()),
            ("--reinit", self.reinit),
            ("--seed", self.seed.is_some()),
            ("--init", self.init.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }

    /// The compile options, defaults filled in.
    pub fn options(&self, precision: TrainPrecision) -> TrainCompileOptions {
        let kind = match self.optimizer {
            None => OptimizerKind::default(),
            Some(OptimizerArg::Adamw) => OptimizerKind::AdamW,
            Some(OptimizerArg::Sgd) => OptimizerKind::Sgd,
        };
        let defaults = Optimizer::defaults(kind);
        TrainCompileOptions {
            precision,
            optimizer: Optimizer {
                learning_rate: self.learning_rate.unwrap_or(defaults.learning_rate),
                momentum: self.momentum.unwrap_or(defaults.momentum),
                beta2: self.beta2.unwrap_or(defaults.beta2),
                weight_decay: self.weight_decay.unwrap_or(defaults.weight_decay),
                warmup_steps: self.warmup_steps.unwrap_or(defaults.warmup_steps),
                ..defaults
            },
            batch: self.batch.unwrap_or(DEFAULT_BATCH),
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
            init: match self.init {
                None => InitScheme::default(),
                Some(InitArg::He) => InitScheme::He,
                Some(InitArg::Glorot) => InitScheme::Glorot,
            },
        }
    }
}

/// Compiles a training program, writes it and prints its description.
pub fn compile_training(
    file: &Path,
    opts: &TrainCompileOptions,
    output: Option<&Path>,
    json: bool,
) -> Result<()> {
    let out = output_path(output, file, "", nnopt::train::ntp::EXTENSION)?;
    let g = nnopt::load_model(file)?;
    let progress = Progress::spinner(&format!("compiling {} for training", file.display()));
    let compiled = compile_train(&g, opts).map_err(|e| e.in_file(file));
    progress.finish();
    let compiled = compiled?;
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
