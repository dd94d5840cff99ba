//! `nnopt fl ...`: the federated-learning commands, `simulate` (every client in this
//! process) and `flower` (a localhost Flower deployment), with the same federation
//! flags and JSON.

mod flower;
mod simulate;

use clap::{Args, Subcommand, ValueEnum};
use nnopt::passes::TrainPrecision;
use nnopt::train::fl::participation::{Participation, ParticipationOptions, DEFAULT_ACTIVE_ROUNDS};
use nnopt::train::fl::partition::Partition;
use nnopt::train::fl::simulate::SimulateOptions;
use nnopt::train::server::ServerOptimizer;
use nnopt::train::TrainingProgram;
use nnopt::Result;
use std::path::PathBuf;

/// Federated-learning subcommands.
#[derive(Subcommand)]
pub enum FlCommand {
    /// Simulate FedAvg: an f32 server and clients that run a training program
    /// (`nnopt compile --target train`) on their shares of a CSV dataset; every message
    /// is serialized and its bytes counted. Prints per-round test accuracy and bytes.
    #[command(
        after_help = "Examples:\n  nnopt compile digits_cnn_float.tflite --target train --reinit -o client.ntp\n  nnopt fl simulate --program client.ntp --data digits.csv.gz --clients 20 --rounds 100 \\\n      --local-epochs 1 --non-iid dirichlet:0.5 --precision fp8 --seed 0 --report fl.html\n  nnopt fl simulate --program client.ntp --data digits.csv.gz --rounds 30 --json\n  nnopt fl simulate --program bnn.ntp --data digits.csv.gz --clients 1 --rounds 40 \\\n      --server-optimizer fedavg --save bnn_trained.nnir   # central training, model saved\n\nThe data is CSV (optionally .gz): the features, then an integer label per row; the\nfeatures are divided by their largest absolute value. Every fifth row (index % 5 == 0)\nis the test split, the same for every seed; a directory of IDX files (Fashion-MNIST's\ntrain and t10k files) is split as shipped. --report also runs the other precision\nwith the same seed and draws both."
    )]
    Simulate(simulate::SimulateArgs),
    /// Run the same federation on Flower (flwr 1.42): starts a SuperLink and one
    /// SuperNode per client on 127.0.0.1, runs nnopt's Flower app (clients training with
    /// nnopt, an FP32 server strategy) and stops every process it started. Prints what
    /// `fl simulate` prints, with the bytes Flower moved.
    #[command(
        after_help = "Examples:\n  nnopt fl flower --program client.ntp --data digits.csv.gz --clients 3 --rounds 10\n  nnopt fl flower --program client.ntp --data digits.csv.gz --clients 3 --rounds 10 \\\n      --precision fp32 --python .venv-flower/bin/python --json\n\nNeeds a Python with Flower and nnopt's bindings: pip install flwr==1.42.0 and\npip install ./python from nnopt's repository. The per-round accuracy equals\n`nnopt fl simulate`'s with the same flags; the bytes are Flower's counts."
    )]
    Flower(flower::FlowerArgs),
}

/// The federation: the flags `fl simulate` and `fl flower` share.
#[derive(Args)]
pub struct FederationArgs {
    /// Training program (.ntp) from `nnopt compile --target train`.
    #[arg(long)]
    pub program: PathBuf,
    /// Labelled dataset: CSV (.csv or .csv.gz; features, then the label; every fifth row
    /// is the test split) or a directory of IDX files (MNIST's format: train and t10k).
    #[arg(long)]
    pub data: PathBuf,
    /// Number of clients (all take part in every round).
    #[arg(long, default_value = "20", value_parser = at_least_one)]
    pub clients: usize,
    /// Rounds of FedAvg (broadcast, local training, updates, aggregation).
    #[arg(long, default_value = "100", value_parser = at_least_one)]
    pub rounds: usize,
    /// Passes over its local data each client makes per round.
    #[arg(long, default_value = "1", value_parser = at_least_one)]
    pub local_epochs: usize,
    /// Label-skewed split, `dirichlet:ALPHA` (e.g. dirichlet:0.5); IID without it.
    #[arg(long, value_name = "dirichlet:ALPHA")]
    pub non_iid: Option<Partition>,
    /// How the server applies the mean client update: fedavg (adds it), fedavgm (with
    /// server momentum) or fedadam (an Adam step) [default: fedavgm].
    #[arg(long, value_enum)]
    pub server_optimizer: Option<ServerOptimizerArg>,
    /// Server learning rate of fedavgm and fedadam [default: 1 for fedavgm, 0.01 for
    /// fedadam].
    #[arg(long, value_parser = non_negative)]
    pub server_learning_rate: Option<f32>,
    /// Server momentum of fedavgm, or beta1 of fedadam [default: 0.9].
    #[arg(long, value_parser = unit_interval)]
    pub server_momentum: Option<f32>,
    /// fp8: FP8 client training and FP8 messages (E4M3, per-tensor scales; updates
    /// rounded stochastically with error feedback, broadcasts to nearest); fp32: the
    /// FP32 baseline. Default: the program's precision.
    #[arg(long, value_enum)]
    pub precision: Option<FlPrecision>,
    /// Message values, when they should differ from --precision (an ablation): fp8
    /// (E4M3) or fp32.
    #[arg(long, value_enum)]
    pub messages: Option<FlPrecision>,
    /// Seed of the client split, the clients' shuffles and stochastic rounding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Test accuracy whose first crossing the byte counts are reported for: a fraction
    /// (0.9) or a percentage (90).
    #[arg(long, value_name = "ACC", default_value = "0.9", value_parser = parse_accuracy)]
    pub target_accuracy: f64,
    /// Which clients train each round: always (every client) or on-change (a client
    /// watches the mean label of samples of its data with Bayesian online changepoint
    /// detection and trains in its first --active-rounds rounds and as many rounds from
    /// each change it detects) [default: always]. fl simulate only.
    #[arg(long, value_enum)]
    pub participation: Option<ParticipationArg>,
    /// Rounds an on-change client trains at the start and from each change it detects
    /// [default: 3].
    #[arg(long, value_name = "N", requires = "participation", value_parser = at_least_one)]
    pub active_rounds: Option<usize>,
    /// Rounds (1-based, comma-separated) from which every client's rows are redrawn from
    /// the partition with another seed, so that a non-IID client's label mix changes.
    /// fl simulate only.
    #[arg(long, value_delimiter = ',', value_parser = at_least_one)]
    pub drift: Vec<usize>,
}

/// `--participation`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ParticipationArg {
    Always,
    OnChange,
}

/// `--server-optimizer`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ServerOptimizerArg {
    Fedavg,
    Fedavgm,
    Fedadam,
}

impl FederationArgs {
    /// The server optimizer, defaults filled in.
    pub fn server_optimizer(&self) -> Result<ServerOptimizer> {
        let kind = match self.server_optimizer {
            None => ServerOptimizer::default(),
            Some(ServerOptimizerArg::Fedavg) => ServerOptimizer::FedAvg,
            Some(ServerOptimizerArg::Fedavgm) => ServerOptimizer::FEDAVGM,
            Some(ServerOptimizerArg::Fedadam) => ServerOptimizer::FEDADAM,
        };
        kind.with(self.server_learning_rate, self.server_momentum)
    }
}

/// Precision of a simulation.
#[derive(Clone, Copy, ValueEnum)]
pub enum FlPrecision {
    Fp8,
    Fp32,
}

impl From<FlPrecision> for TrainPrecision {
    fn from(p: FlPrecision) -> Self {
        match p {
            FlPrecision::Fp8 => TrainPrecision::Fp8,
            FlPrecision::Fp32 => TrainPrecision::Fp32,
        }
    }
}

impl FederationArgs {
    /// `--participation` and `--drift`.
    pub fn participation(&self) -> ParticipationOptions {
        ParticipationOptions {
            participation: match self.participation {
                None | Some(ParticipationArg::Always) => Participation::Always,
                Some(ParticipationArg::OnChange) => Participation::OnChange,
            },
            drift: self.drift.clone(),
            active_rounds: self.active_rounds.unwrap_or(DEFAULT_ACTIVE_ROUNDS),
        }
    }

    /// The federation's options for `program` (precisions default to the program's).
    pub fn options(&self, program: &TrainingProgram) -> Result<SimulateOptions> {
        let primary = self
            .precision
            .map_or(program.precision, TrainPrecision::from);
        Ok(SimulateOptions {
            clients: self.clients,
            rounds: self.rounds,
            local_epochs: self.local_epochs,
            partition: self.non_iid.unwrap_or(Partition::Iid),
            server_optimizer: self.server_optimizer()?,
            precision: primary,
            messages: self.messages.map_or(primary, TrainPrecision::from),
            seed: self.seed,
            target_accuracy: self.target_accuracy,
        })
    }
}

/// Runs an `nnopt fl` subcommand.
pub fn run(command: FlCommand) -> Result<()> {
    match command {
        FlCommand::Simulate(args) => simulate::run(&args),
        FlCommand::Flower(args) => flower::run(&args),
    }
}

/// `--target-accuracy`: a fraction in (0, 1] or a percentage in (1, 100], as a fraction.
fn parse_accuracy(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    match v {
        v if v > 0.0 && v <= 1.0 => Ok(v),
        v if v > 1.0 && v <= 100.0 => Ok(v / 100.0),
        _ => Err(format!(
            "{s} is neither a fraction in (0, 1] nor a percentage in (1, 100]"
        )),
    }
}

/// A count of at least 1 (`--clients`, `--rounds`, `--local-epochs`).
fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// A finite value of at least 0 (`--server-learning-rate`).
fn non_negative(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("{v} must be finite and at least 0")),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}

/// A value in [0, 1) (`--server-momentum`).
fn unit_interval(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} must be in [0, 1)")),
        Err(_) => Err(format!("{s:?} is not a number")),
    }
}
