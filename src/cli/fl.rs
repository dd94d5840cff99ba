//! `nnopt fl ...`: the federated-learning commands.

use super::common::{file_stem, to_json, ThreadsArg};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nnopt::output::write_atomically;
use nnopt::passes::TrainPrecision;
use nnopt::report::fl::{render_html, render_table};
use nnopt::train::data::{load_csv, Dataset};
use nnopt::train::fl::partition::Partition;
use nnopt::train::fl::simulate::{simulate, SimulateOptions, Simulation};
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
        after_help = "Examples:\n  nnopt compile digits_cnn_float.tflite --target train --reinit -o client.ntp\n  nnopt fl simulate --program client.ntp --data digits.csv.gz --clients 20 --rounds 100 \\\n      --local-epochs 1 --non-iid dirichlet:0.5 --precision fp8 --seed 0 --report fl.html\n  nnopt fl simulate --program client.ntp --data digits.csv.gz --rounds 30 --json\n\nThe data is CSV (optionally .gz): the features, then an integer label per row; the\nfeatures are divided by their largest absolute value. Every fifth row (index % 5 == 0)\nis the test split, the same for every seed. --report also runs the other precision\nwith the same seed and draws both."
    )]
    Simulate(SimulateArgs),
}

/// Arguments of `nnopt fl simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    /// Training program (.ntp) from `nnopt compile --target train`.
    #[arg(long)]
    program: PathBuf,
    /// Labelled CSV dataset (.csv or .csv.gz).
    #[arg(long)]
    data: PathBuf,
    /// Number of clients (all take part in every round).
    #[arg(long, default_value = "20", value_parser = at_least_one)]
    clients: usize,
    /// Rounds of FedAvg (broadcast, local training, updates, aggregation).
    #[arg(long, default_value = "100", value_parser = at_least_one)]
    rounds: usize,
    /// Passes over its local data each client makes per round.
    #[arg(long, default_value = "1", value_parser = at_least_one)]
    local_epochs: usize,
    /// Label-skewed split, `dirichlet:ALPHA` (e.g. dirichlet:0.5); IID without it.
    #[arg(long, value_name = "dirichlet:ALPHA")]
    non_iid: Option<Partition>,
    /// How the server applies the mean client update: fedavg (adds it), fedavgm (with
    /// server momentum) or fedadam (an Adam step) [default: fedavgm].
    #[arg(long, value_enum)]
    server_optimizer: Option<ServerOptimizerArg>,
    /// Server learning rate of fedavgm and fedadam [default: 1 for fedavgm, 0.01 for
    /// fedadam].
    #[arg(long, value_parser = non_negative)]
    server_learning_rate: Option<f32>,
    /// Server momentum of fedavgm, or beta1 of fedadam [default: 0.9].
    #[arg(long, value_parser = unit_interval)]
    server_momentum: Option<f32>,
    /// fp8: FP8 client training and FP8 messages (E4M3, per-tensor scales; updates
    /// rounded stochastically with error feedback, broadcasts to nearest); fp32: the
    /// FP32 baseline. Default: the program's precision.
    #[arg(long, value_enum)]
    precision: Option<FlPrecision>,
    /// Message values, when they should differ from --precision (an ablation): fp8
    /// (E4M3) or fp32.
    #[arg(long, value_enum)]
    messages: Option<FlPrecision>,
    /// Seed of the client split, the clients' shuffles and stochastic rounding.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Test accuracy whose first crossing the byte counts are reported for: a fraction
    /// (0.9) or a percentage (90).
    #[arg(long, value_name = "ACC", default_value = "0.9", value_parser = parse_accuracy)]
    target_accuracy: f64,
    /// Write an HTML report with accuracy curves of FP8 and FP32 side by side (runs both).
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Also run the other precision, and report the ratio of bytes to the target.
    #[arg(long)]
    compare: bool,
    /// Print one JSON object for tools instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// `--server-optimizer`.
#[derive(Clone, Copy, ValueEnum)]
enum ServerOptimizerArg {
    Fedavg,
    Fedavgm,
    Fedadam,
}

impl SimulateArgs {
    /// The server optimizer, defaults filled in.
    fn server_optimizer(&self) -> Result<ServerOptimizer> {
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
enum FlPrecision {
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

/// Runs an `nnopt fl` subcommand.
pub fn run(command: FlCommand) -> Result<()> {
    match command {
        FlCommand::Simulate(args) => run_simulate(&args),
    }
}

/// One simulation with a progress bar.
fn run_one(
    program: &TrainingProgram,
    data: &Dataset,
    opts: &SimulateOptions,
) -> Result<Simulation> {
    let bar = ProgressBar::new(opts.rounds as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} round {pos}/{len} [{elapsed_precise}] {wide_bar} {msg}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(opts.precision.name());
    let sim = simulate(program, data, opts, |r, warning| {
        if let Some(w) = warning {
            bar.suspend(|| {
                nnopt::diagnostics::warn(&format!("{} run: {w}", opts.precision.name()))
            });
        }
        bar.set_message(format!("accuracy {:.2} %", 100.0 * r.accuracy));
        bar.inc(1);
    });
    bar.finish_and_clear();
    sim
}

fn run_simulate(a: &SimulateArgs) -> Result<()> {
    a.threads.install(|| simulate_rounds(a))
}

fn simulate_rounds(a: &SimulateArgs) -> Result<()> {
    let (program, _) = nnopt::train::ntp::load(&a.program)?;
    let data = load_csv(&a.data)?;
    let primary = a.precision.map_or(program.precision, TrainPrecision::from);
    let opts = SimulateOptions {
        clients: a.clients,
        rounds: a.rounds,
        local_epochs: a.local_epochs,
        partition: a.non_iid.unwrap_or(Partition::Iid),
        server_optimizer: a.server_optimizer()?,
        precision: primary,
        messages: a.messages.map_or(primary, TrainPrecision::from),
        seed: a.seed,
        target_accuracy: a.target_accuracy,
    };
    let main = run_one(&program, &data, &opts)?;
    let other = if a.compare || a.report.is_some() {
        let precision = match primary {
            TrainPrecision::Fp8 => TrainPrecision::Fp32,
            TrainPrecision::Fp32 => TrainPrecision::Fp8,
        };
        Some(run_one(
            &program,
            &data,
            &SimulateOptions {
                precision,
                messages: precision,
                ..opts.clone()
            },
        )?)
    } else {
        None
    };
    // Bytes to the target of the other run over this run's.
    let ratio = other
        .as_ref()
        .and_then(|o| Some(o.bytes_to_target? as f64 / main.bytes_to_target? as f64));
    if let Some(path) = &a.report {
        let name = file_stem(&a.program);
        let mut sims = vec![&main];
        sims.extend(other.as_ref());
        // FP8 first, so colours and the ratio read the same in every report.
        sims.sort_by_key(|s| s.precision != "fp8");
        write_atomically(path, render_html(&name, &sims)?.as_bytes())?;
    }
    if a.json {
        let mut v = serde_json::to_value(&main).expect("simulation serializes");
        if let Some(o) = &other {
            v["comparison"] = serde_json::to_value(o).expect("simulation serializes");
            v["bytes_to_target_ratio"] = serde_json::json!(ratio);
        }
        println!("{}", to_json(&v));
    } else {
        print!("{}", render_table(&main, 10));
        if let Some(o) = &other {
            println!();
            print!("{}", render_table(o, 10));
            if let Some(r) = ratio {
                println!(
                    "\nbytes to {:.0} %: {} needs {r:.2}x the bytes of {}",
                    100.0 * a.target_accuracy,
                    o.precision,
                    main.precision
                );
            }
        }
        if let Some(p) = &a.report {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
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
