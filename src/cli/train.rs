//! The `nnopt compile --target train` flags and the training-program compilation.

use super::common::to_json;
use clap::{Args, ValueEnum};
use nnopt::output::write_atomically;
use nnopt::passes::{TrainOptions, TrainPrecision};
use nnopt::train::{
    compile_train, CompileOptions as TrainCompileOptions, DelayedScaling, MasterWeights,
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
    pub fn given(&self) -> Vec<&'static str> {
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
    pub fn options(&self, precision: TrainPrecision) -> TrainCompileOptions {
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

/// Compiles a training program, writes it and prints its description.
pub fn compile_training(
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
