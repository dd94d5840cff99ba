//! `nnopt costmodel`: datasets for the learned cost model.

use super::common::{to_json, ThreadsArg};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use nnopt::costmodel::dataset::{default_vela_configs, generate, DatasetOptions};
use nnopt::{Error, Result};
use nnopt_costmodel::Space;
use std::path::PathBuf;

/// Examples in `nnopt costmodel dataset --help`.
const DATASET_EXAMPLES: &str = "Examples:\n  nnopt costmodel dataset --space mobilenet --n 100 -o data/cost\n  nnopt costmodel dataset --space all --n 5000 -o data/cost --labels npu,vela --vela .venv/bin/vela\n  nnopt costmodel dataset --space dscnn --n 10 --seed 1000 -o /tmp/kws --json\n  nnopt costmodel dataset --n 5000 -o data/cost --labels npu,vela --drop-models   # features and labels only\n\nEach network SPACE_SEED is written as SPACE_SEED.tflite (int8, exported by nnopt from a\nrandom float network quantized on random inputs) with its graph features and labels in\nSPACE_SEED.json; manifest.json lists them. Networks that already have the requested labels are skipped,\nso an interrupted run resumes. Vela labels need Arm's Vela (pip install ethos-u-vela), LiteRT labels a Python with\nai-edge-litert (--python); latencies are measured one at a time, and are cleanest with\n--threads 1 on an otherwise idle machine.";

/// `nnopt costmodel` subcommands.
#[derive(Subcommand)]
pub enum CostmodelCommand {
    /// Generate (or complete) a dataset of random int8 networks with their labels.
    #[command(after_help = DATASET_EXAMPLES)]
    Dataset(DatasetArgs),
    /// Compare predicted cycles with Vela's on the test split of a dataset (a fixed fifth
    /// of the networks): MAPE, share within ±10 %, median ratio, per search space.
    /// Predictors: nnopt's analytic NPU model (npu-128 vs ethos-u55-128, npu-256 vs
    /// ethos-u55-256), a linear fit of log cycles on log MACs and bytes, and per-operator
    /// linear models summed (both trained on the other four fifths, and again on all
    /// search spaces but one and scored on that one).
    #[command(
        after_help = "Examples:\n  nnopt costmodel eval data/cost\n  nnopt costmodel eval data/cost --json"
    )]
    Eval(EvalArgs),
}

/// Arguments of `nnopt costmodel eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// A dataset directory (from `nnopt costmodel dataset --labels npu,vela`).
    dir: PathBuf,
    /// Print JSON rows instead of the table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `nnopt costmodel dataset`.
#[derive(Args)]
pub struct DatasetArgs {
    /// Search space: mobilenet, resnet, dscnn, plain, or all.
    #[arg(long, default_value = "all")]
    space: String,
    /// Networks per space.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    n: u64,
    /// Seed of the first network of each space (the others follow).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory.
    #[arg(long, short)]
    output: PathBuf,
    /// Labels: npu (nnopt's estimate for npu-128, npu-256, npu-512), vela (Vela's
    /// estimate for --vela-config) and litert (latency measured with LiteRT on this
    /// machine, one thread, builtin kernels and XNNPACK).
    #[arg(long, value_delimiter = ',', default_value = "npu")]
    labels: Vec<String>,
    /// The Vela executable.
    #[arg(long, default_value = "vela")]
    vela: PathBuf,
    /// Vela accelerator configurations (default: ethos-u55-128, ethos-u55-256,
    /// ethos-u65-256).
    #[arg(long, value_delimiter = ',')]
    vela_config: Vec<String>,
    /// The Python interpreter that has ai-edge-litert (for --labels litert).
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// Timed runs per LiteRT latency (the median is the label).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(3..))]
    latency_runs: u64,
    /// Delete each .tflite file once it is labelled (its record keeps the graph
    /// features): large datasets then take a few kB per network instead of up to MBs.
    #[arg(long)]
    drop_models: bool,
    /// Print the run's summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// Runs a `costmodel` subcommand.
pub fn run(command: CostmodelCommand) -> Result<()> {
    match command {
        CostmodelCommand::Dataset(args) => args.threads.install(|| dataset(&args)),
        CostmodelCommand::Eval(args) => eval(&args),
    }
}

fn eval(args: &EvalArgs) -> Result<()> {
    use nnopt::costmodel::eval::{evaluate, load_records, render};
    let records = load_records(&args.dir)?;
    let rows = evaluate(&records);
    if rows.is_empty() {
        return Err(Error::new(format!(
            "{}: no network of the test split has Vela labels (generate with --labels \
             npu,vela)",
            args.dir.display()
        )));
    }
    if args.json {
        println!("{}", to_json(&rows));
    } else {
        print!("{}", render(&rows));
    }
    Ok(())
}

fn dataset(args: &DatasetArgs) -> Result<()> {
    let spaces = if args.space == "all" {
        Space::ALL.to_vec()
    } else {
        vec![args.space.parse::<Space>()?]
    };
    let (mut npu, mut vela, mut litert) = (false, false, false);
    for label in &args.labels {
        match label.as_str() {
            "npu" => npu = true,
            "vela" => vela = true,
            "litert" => litert = true,
            other => {
                return Err(Error::new(format!(
                    "--labels {other}: the labels are npu, vela and litert"
                )))
            }
        }
    }
    let configs = if args.vela_config.is_empty() {
        default_vela_configs()
    } else {
        args.vela_config.clone()
    };
    let opts = DatasetOptions {
        spaces,
        count: args.n as usize,
        first_seed: args.seed,
        npu,
        vela: vela.then(|| (args.vela.clone(), configs)),
        litert: litert.then(|| (args.python.clone(), args.latency_runs as usize)),
        keep_models: !args.drop_models,
    };
    let total = opts.spaces.len() as u64 * args.n;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{spinner} networks {pos}/{len} [{elapsed_precise}] {wide_bar} {msg}",
        )
        .expect("valid template"),
    );
    let summary = generate(&args.output, &opts, &|name| {
        bar.set_message(name.to_string());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    for (name, reason) in &summary.failures {
        eprintln!("error: {name}: {reason}");
    }
    let manifest = summary.manifest.as_ref();
    if args.json {
        println!(
            "{}",
            to_json(&serde_json::json!({
                "directory": args.output.display().to_string(),
                "generated": summary.generated,
                "skipped": summary.skipped,
                "failures": summary.failures.iter().map(|(n, r)| serde_json::json!({"name": n, "reason": r})).collect::<Vec<_>>(),
                "manifest": manifest,
            }))
        );
    } else {
        println!(
            "{}: {} networks generated, {} already there, {} failed",
            args.output.display(),
            summary.generated,
            summary.skipped,
            summary.failures.len()
        );
        if let Some(m) = manifest {
            for (space, n) in &m.spaces {
                println!("  {space:<10} {n} networks");
            }
            for (label, n) in &m.labels {
                println!("  {label:<22} {n} labelled");
            }
        }
        println!("wrote {}", args.output.join("manifest.json").display());
    }
    if summary.failures.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "{} networks failed (run again to retry them)",
            summary.failures.len()
        )))
    }
}
