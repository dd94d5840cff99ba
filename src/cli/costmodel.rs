//! `nnopt costmodel`: datasets for the learned cost model.

use super::common::{to_json, ThreadsArg};
use clap::{Args, Subcommand, ValueEnum};
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
    /// Score predictors against Vela on a dataset: MAPE, share within ±10 %, median ratio,
    /// per Vela configuration, figure (cycles, SRAM), split and search space. Predictors:
    /// nnopt's analytic NPU model (npu-128 vs ethos-u55-128, npu-256 vs ethos-u55-256), a
    /// linear fit of log cycles on log MACs and bytes and per-operator linear models summed
    /// (each fitted on the training split, and on all spaces but one), and each --model
    /// (from `nnopt costmodel train`) on the networks its training held out; --real adds
    /// model files never seen in training, against Vela run on them.
    #[command(
        after_help = "Examples:\n  nnopt costmodel eval data/cost\n  nnopt costmodel eval data/cost --model cost.safetensors --model no-dscnn.safetensors\n  nnopt costmodel eval data/cost --model cost.safetensors --real person_detect.tflite --vela .venv/bin/vela\n  nnopt costmodel eval data/cost --json"
    )]
    Eval(EvalArgs),
    /// Train the GraphSAGE predictor on a dataset (every label it holds: Vela's cycles,
    /// SRAM and off-chip bytes, nnopt's NPU estimate, LiteRT latency) and write the model
    /// file (safetensors).
    #[command(after_help = TRAIN_EXAMPLES)]
    Train(TrainArgs),
    /// Fit an analytic NPU target to Vela: its bandwidths, the utilization of each kind of
    /// work and a per-command overhead, to Vela's per-operator cycles for one
    /// configuration on the dataset's training split; prints the figures and the errors on
    /// the test split before and after, and writes the target (YAML, for --target-config
    /// or as a preset).
    #[command(after_help = CALIBRATE_EXAMPLES)]
    Calibrate(CalibrateArgs),
}

/// Examples in `nnopt costmodel calibrate --help`.
const CALIBRATE_EXAMPLES: &str = "Examples:\n  nnopt costmodel calibrate data/cost --config ethos-u55-256 -o u55-256.yaml\n  nnopt costmodel calibrate data/cost --config ethos-u55-128 --base npu-128 --json\n  nnopt compile model.tflite --target-config u55-256.yaml\n\nThe dataset needs NPU work and Vela labels (nnopt costmodel dataset --labels npu,vela).\nThe fit is deterministic: the same records give the same file.";

/// Arguments of `nnopt costmodel calibrate`.
#[derive(Args)]
pub struct CalibrateArgs {
    /// A dataset directory (from `nnopt costmodel dataset --labels npu,vela`).
    dir: PathBuf,
    /// The Vela accelerator configuration to fit to.
    #[arg(long)]
    config: String,
    /// The preset to start from (default: the npu preset with the configuration's MACs
    /// per cycle).
    #[arg(long)]
    base: Option<String>,
    /// The fitted target's name (default: npu-u55-256 for ethos-u55-256, and so on).
    #[arg(long)]
    name: Option<String>,
    /// Write the fitted target here (YAML).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print the calibration as JSON.
    #[arg(long)]
    json: bool,
}

/// Examples in `nnopt costmodel train --help`.
const TRAIN_EXAMPLES: &str = "Examples:\n  nnopt costmodel train data/cost -o cost.safetensors\n  nnopt costmodel train data/cost -o no-dscnn.safetensors --without dscnn\n  nnopt costmodel eval data/cost --model cost.safetensors --model no-dscnn.safetensors\n\nThe model trains on the networks outside the test split (a fixed fifth, the one `nnopt\ncostmodel eval` scores on), or with --without SPACE on every other search space; a tenth of\nthe networks is kept for validation and the weights of the best validation epoch are\nsaved. The same dataset, options and seed give the same file.";

/// `--arch`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Arch {
    Sage,
    Gcn,
}

/// Arguments of `nnopt costmodel train`.
#[derive(Args)]
pub struct TrainArgs {
    /// A dataset directory (from `nnopt costmodel dataset`).
    dir: PathBuf,
    /// The model file to write.
    #[arg(long, short)]
    output: PathBuf,
    /// Hold out this search space instead of the test split (leave one space out).
    #[arg(long)]
    without: Option<String>,
    /// GraphSAGE layers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=8))]
    layers: u64,
    /// Units per layer.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(4..=1024))]
    hidden: u64,
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch_size: u64,
    /// Adam's learning rate (decays along a cosine to 1 % of it).
    #[arg(long, default_value_t = 0.003)]
    learning_rate: f64,
    /// Seed of the initial weights and of the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The model: sage (GraphSAGE with per-operator shares) or gcn (the BRP-NAS-style
    /// graph-convolution baseline, per network only).
    #[arg(long, value_enum, default_value = "sage")]
    arch: Arch,
    /// Print the training summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `nnopt costmodel eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// A dataset directory (from `nnopt costmodel dataset --labels npu,vela`).
    dir: PathBuf,
    /// Learned predictors to score too (from `nnopt costmodel train`), each on the
    /// networks its training held out.
    #[arg(long)]
    model: Vec<PathBuf>,
    /// Real networks to price against Vela (model files never seen in training; float
    /// models are quantized to int8 first), with the first --model trained on the random
    /// split (default: the shipped model).
    #[arg(long, value_name = "MODEL")]
    real: Vec<PathBuf>,
    /// The Vela executable (for --real).
    #[arg(long, default_value = "vela")]
    vela: PathBuf,
    /// Print JSON rows instead of the table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `nnopt costmodel dataset`.
#[derive(Args)]
pub struct DatasetArgs {
    /// Search space: mobilenet, resnet, dscnn, plain, blaze, or all.
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
    /// Labels: npu (nnopt's NPU work and its estimate on every preset), vela (Vela's
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
        CostmodelCommand::Train(args) => train(&args),
        CostmodelCommand::Calibrate(args) => calibrate(&args),
    }
}

fn calibrate(args: &CalibrateArgs) -> Result<()> {
    use nnopt::costmodel::calibrate::{calibrate, fitted_figures, target_yaml};
    use nnopt::costmodel::eval::load_records;
    use nnopt_backends::npu::target::Target;
    use nnopt_costmodel::device::{Device, Source};
    let device = Device::named(&args.config)
        .ok()
        .filter(|d| d.source == Source::Vela)
        .ok_or_else(|| {
            Error::new(format!(
                "unknown Vela configuration '{}' (ethos-u55-128, ethos-u55-256, \
                 ethos-u65-256)",
                args.config
            ))
        })?;
    let macs = args.config.rsplit('-').next().unwrap_or_default();
    let base_name = args.base.clone().unwrap_or_else(|| format!("npu-{macs}"));
    let base = Target::preset(&base_name)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| args.config.replacen("ethos-", "npu-", 1));
    let records = load_records(&args.dir)?;
    let clock_hz = device.clock_hz.map_or(base.clock_hz, |c| c as u64);
    let c = calibrate(&records, &args.config, &base, &name, clock_hz)
        .map_err(|e| e.in_file(&args.dir))?;
    let yaml = target_yaml(&c, &args.dir);
    if let Some(path) = &args.output {
        nnopt::output::write_atomically(path, yaml.as_bytes())?;
    }
    if args.json {
        println!("{}", to_json(&c));
        return Ok(());
    }
    println!(
        "{} fitted to Vela's {} on {} training networks (from {})",
        c.fitted.name, c.config, c.train_networks, base_name
    );
    println!("{:<30} {:>10} {:>10}", "figure", "base", "fitted");
    for ((name, b), (_, f)) in fitted_figures(&c.base)
        .into_iter()
        .zip(fitted_figures(&c.fitted))
    {
        println!("{name:<30} {b:>10} {f:>10}");
    }
    println!(
        "\ntest split: {} networks, {} operators with Vela cycles",
        c.after.networks, c.after.layers
    );
    println!(
        "{:<30} {:>10} {:>10}",
        "error against Vela", "base", "fitted"
    );
    let rows = [
        (
            "per-operator MAPE %",
            c.before.layer_mape_percent,
            c.after.layer_mape_percent,
        ),
        (
            "per-network MAPE %",
            c.before.network_mape_percent,
            c.after.network_mape_percent,
        ),
        (
            "networks within ±10 %",
            c.before.within_10_percent,
            c.after.within_10_percent,
        ),
        ("median ratio", c.before.median_ratio, c.after.median_ratio),
    ];
    for (label, b, f) in rows {
        println!("{label:<30} {b:>10.3} {f:>10.3}");
    }
    if let Some(path) = &args.output {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn train(args: &TrainArgs) -> Result<()> {
    use nnopt::costmodel::eval::load_records;
    use nnopt::costmodel::learned::{train_predictor, Split};
    use nnopt_costmodel::sage::Architecture;
    use nnopt_costmodel::train::TrainOptions;
    let records = load_records(&args.dir)?;
    let split = match &args.without {
        None => Split::Random,
        Some(space) => {
            if !records.iter().any(|r| &r.space == space) {
                return Err(Error::new(format!(
                    "--without {space}: the dataset has no network of that space"
                )));
            }
            Split::Without(space.clone())
        }
    };
    let opts = TrainOptions {
        layers: args.layers as usize,
        hidden: args.hidden as usize,
        epochs: args.epochs as usize,
        batch_size: args.batch_size as usize,
        learning_rate: args.learning_rate,
        clip: 5.0,
        seed: args.seed,
        architecture: match args.arch {
            Arch::Sage => Architecture::Sage,
            Arch::Gcn => Architecture::Gcn,
        },
    };
    let bar = ProgressBar::new(args.epochs).with_style(
        ProgressStyle::with_template("epochs {pos}/{len} [{elapsed_precise}] {wide_bar} {msg}")
            .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let predictor = train_predictor(&records, &split, &opts, &mut |e| {
        bar.set_message(format!(
            "loss {:.4} validation {:.4}",
            e.train_loss, e.validation_loss
        ));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    nnopt::output::write_atomically(&args.output, &predictor.to_bytes()?)?;
    if args.json {
        println!(
            "{}",
            to_json(&serde_json::json!({
                "model": args.output.display().to_string(),
                "targets": predictor.targets(),
                "training": predictor.info.training,
                "seconds": seconds,
            }))
        );
    } else {
        let t = &predictor.info.training;
        println!(
            "trained on {} networks ({} for validation) of {}, {} epochs in {seconds:.1} s; \
             best validation mean |log error| {:.4}",
            t["train_networks"],
            t["validation_networks"],
            split.label(),
            args.epochs,
            t["best_validation_loss"].as_f64().unwrap_or(f64::NAN)
        );
        println!("targets: {}", predictor.targets().join(", "));
        println!("wrote {}", args.output.display());
    }
    Ok(())
}

fn eval(args: &EvalArgs) -> Result<()> {
    use nnopt::costmodel::eval::{evaluate, learned_rows, load_records, real_rows, render};
    use nnopt::costmodel::learned::{split_of, Split};
    use nnopt::predict::load_predictor;
    let records = load_records(&args.dir)?;
    let mut rows = evaluate(&records);
    let mut real_model = None;
    for path in &args.model {
        let model = load_predictor(Some(path))?;
        rows.extend(learned_rows(&records, &model).map_err(|e| e.in_file(path))?);
        // One network at a time, as `nnopt predict` and the optimizer ask.
        let sample: Vec<_> = records.iter().take(200).map(|r| &r.graph).collect();
        let started = std::time::Instant::now();
        for g in &sample {
            model.predict(&[*g])?;
        }
        if !sample.is_empty() {
            eprintln!(
                "{}: {:.3} ms per network (one at a time, mean of {})",
                path.display(),
                started.elapsed().as_secs_f64() * 1e3 / sample.len() as f64,
                sample.len()
            );
        }
        if real_model.is_none() && split_of(&model) == Some(Split::Random) {
            real_model = Some(model);
        }
    }
    if !args.real.is_empty() {
        nnopt::costmodel::vela::version(&args.vela)?;
        let model = match real_model {
            Some(m) => m,
            None => load_predictor(None)?,
        };
        let scratch = tempfile::tempdir()
            .map_err(|e| Error::new(format!("cannot make a scratch directory: {e}")))?;
        let (real, skipped) = real_rows(&args.real, &model, &args.vela, scratch.path())?;
        for reason in skipped {
            nnopt::diagnostics::warn(&format!("not priced: {reason}"));
        }
        rows.extend(real);
    }
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
