//! `nnopt-fuzz`: a fuzz harness on stable Rust for nnopt's readers. It mutates seed
//! files of each format (bytes, and the format's structure), feeds every mutant to nnopt
//! in a worker subprocess under a memory cap and a timeout, and reports the mutants that
//! panic, abort or hang, saving each one.

mod alloc;
mod backtrace;
mod driver;
mod format;
mod mutate;
mod report;
mod seeds;
mod targets;
mod worker;

use clap::{Args, Parser, Subcommand};
use driver::{Plan, Settings};
use format::Format;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const EXAMPLES: &str = "Examples:
  nnopt-fuzz --mutants 5000                         # every format, built-in seeds
  nnopt-fuzz --format npub,tflite --mutants 2000 --seed 7 --out findings
  nnopt-fuzz --format tflite --seeds ../shared/models/hello_world_int8.tflite
  nnopt-fuzz --format npy --mutants 500 --memory-cap 256MiB --timeout 5 --json
  nnopt-fuzz replay tests/fuzz                      # the regression corpus
  nnopt-fuzz replay findings/npub/hang-17.npub
  nnopt-fuzz mutant --format npub --index 17 --seed 7 -o npub-17.npub

Mutant i of a campaign is a function of the format, --seed, i and the seed files: the
same command makes the same mutants. Exit status 1 if any case panicked, aborted or hung.";

/// Fuzzes nnopt's readers: models (.tflite, .onnx, .nnir), NPU binaries (.npub),
/// training programs (.ntp), FL messages, .npy files and pass pipelines.
#[derive(Parser)]
#[command(name = "nnopt-fuzz", after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,
    #[command(flatten)]
    campaign: CampaignArgs,
}

#[derive(Subcommand)]
enum Commands {
    /// Runs files as they are (no mutation): files, or directories searched for them,
    /// whose format is their folder's name (`tests/fuzz/npub/x.npub`) or extension.
    Replay(ReplayArgs),
    /// Writes one mutant of a campaign (the same --seed and --seeds) to a file.
    Mutant(MutantArgs),
    /// Runs cases for the driver (internal).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

#[derive(Args)]
struct CampaignArgs {
    /// Formats to fuzz (default: all).
    #[arg(long, value_delimiter = ',')]
    format: Vec<Format>,
    /// Mutants per format.
    #[arg(long, default_value_t = 1000)]
    mutants: u64,
    /// The campaign's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Seed files, sorted into formats by extension (.nflm for FL messages, .yaml for
    /// pipelines); formats without any use built-in seeds.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    seeds: Vec<PathBuf>,
    /// Where the inputs of findings are written (`OUT/<format>/<kind>-<index>.<ext>`).
    #[arg(long, default_value = "fuzz-findings")]
    out: PathBuf,
    #[command(flatten)]
    limits: Limits,
}

#[derive(Args)]
struct MutantArgs {
    #[arg(long)]
    format: Format,
    /// The mutant's index.
    #[arg(long)]
    index: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, num_args = 1.., value_name = "FILE")]
    seeds: Vec<PathBuf>,
    /// Output file.
    #[arg(long, short)]
    output: PathBuf,
}

#[derive(Args)]
struct ReplayArgs {
    /// Files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    limits: Limits,
}

#[derive(Args)]
struct Limits {
    /// Seconds a case may run before it is a hang.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Live heap bytes a worker may hold (bytes, or with KiB, MiB or GiB); past it an
    /// allocation fails and the worker aborts.
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    memory_cap: usize,
    /// Workers at a time (default: the CPUs).
    #[arg(long)]
    jobs: Option<usize>,
    /// Prints the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct WorkerArgs {
    #[arg(long)]
    format: Format,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    start: u64,
    #[arg(long)]
    end: u64,
    #[arg(long)]
    memory_cap: usize,
    #[arg(long)]
    replay: bool,
    #[arg(long)]
    tmp: PathBuf,
    seeds: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Commands::Worker(w)) => {
            let job = worker::Job {
                format: w.format,
                seed: w.seed,
                start: w.start,
                end: w.end,
                memory_cap: w.memory_cap,
                replay: w.replay,
                seeds: w.seeds,
                tmp: w.tmp,
            };
            return match worker::run(&job) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("nnopt-fuzz worker: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Commands::Replay(r)) => replay(&r),
        Some(Commands::Mutant(m)) => mutant(&m),
        None => campaign(&cli.campaign),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("nnopt-fuzz: {e}");
            ExitCode::from(2)
        }
    }
}

/// Fuzzes; `Ok(false)` when something panicked, aborted or hung.
fn campaign(args: &CampaignArgs) -> Result<bool, String> {
    let formats = match args.format.is_empty() {
        true => Format::ALL.to_vec(),
        false => args.format.clone(),
    };
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let plans = plans(&formats, &args.seeds, scratch.path(), args.mutants)?;
    let settings = settings(&args.limits, args.seed, false, args.out.clone());
    finish(driver::run(&plans, &settings)?, &args.limits)
}

/// Writes mutant `index` of a campaign.
fn mutant(args: &MutantArgs) -> Result<bool, String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let plan = plans(&[args.format], &args.seeds, scratch.path(), 0)?.remove(0);
    let seeds = plan
        .seeds
        .iter()
        .map(std::fs::read)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read a seed: {e}"))?;
    let bytes = mutate::mutant(args.format, &seeds, args.seed, args.index);
    std::fs::write(&args.output, bytes)
        .map_err(|e| format!("cannot write {}: {e}", args.output.display()))?;
    Ok(true)
}

/// A plan of `cases` per format: the given seed files of the format, else its built-in
/// seeds written to `scratch`.
fn plans(
    formats: &[Format],
    files: &[PathBuf],
    scratch: &Path,
    cases: u64,
) -> Result<Vec<Plan>, String> {
    let mut given = seeds::by_format(files)?;
    formats
        .iter()
        .map(|&format| {
            let seeds = match given.remove(&format) {
                Some(files) => files,
                None => seeds::write_builtin(format, scratch)
                    .map_err(|e| format!("built-in {} seeds: {e}", format.name()))?,
            };
            Ok(Plan {
                format,
                seeds,
                cases,
            })
        })
        .collect()
}

/// Runs files as they are; `Ok(false)` when something panicked, aborted or hung.
fn replay(args: &ReplayArgs) -> Result<bool, String> {
    let mut plans: Vec<Plan> = Vec::new();
    for path in &args.paths {
        for (format, file) in replay_files(path)? {
            match plans.iter_mut().find(|p| p.format == format) {
                Some(p) => p.seeds.push(file),
                None => plans.push(Plan {
                    format,
                    seeds: vec![file],
                    cases: 0,
                }),
            }
        }
    }
    plans.sort_by_key(|p| p.format);
    for p in &mut plans {
        p.cases = p.seeds.len() as u64;
    }
    let settings = settings(&args.limits, 0, true, PathBuf::new());
    finish(driver::run(&plans, &settings)?, &args.limits)
}

/// The files under `path` (sorted) with their formats: a file's folder name when it
/// is a format's, else its extension. Files of no format are skipped in directories
/// and an error when named.
fn replay_files(path: &Path) -> Result<Vec<(Format, PathBuf)>, String> {
    let format_of = |f: &Path| {
        let folder = f
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str());
        folder
            .and_then(Format::of_name)
            .or_else(|| Format::of_path(f))
    };
    if !path.is_dir() {
        let format = format_of(path).ok_or_else(|| format!("{}: no format", path.display()))?;
        return Ok(vec![(format, path.to_path_buf())]);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            files.extend(replay_files(&entry)?);
        } else if let Some(format) = format_of(&entry) {
            files.push((format, entry));
        }
    }
    Ok(files)
}

fn settings(limits: &Limits, seed: u64, replay: bool, out: PathBuf) -> Settings {
    Settings {
        seed,
        timeout: Duration::from_secs_f64(limits.timeout),
        memory_cap: limits.memory_cap,
        jobs: limits
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        replay,
        out,
    }
}

/// Prints the report; `Ok(false)` when it has findings.
fn finish(report: report::Report, limits: &Limits) -> Result<bool, String> {
    match limits.json {
        true => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        ),
        false => print!("{}", report.render()),
    }
    Ok(!report.failed())
}

/// `--memory-cap`: bytes, or a number with a KiB, MiB or GiB suffix.
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (number, unit) = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]
        .into_iter()
        .find_map(|(suffix, unit)| t.strip_suffix(suffix).map(|n| (n, unit)))
        .unwrap_or((t, 1));
    let bad = || format!("{s:?} is not a size (bytes, or a number with KiB, MiB or GiB)");
    let n: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(n.is_finite() && n > 0.0) {
        return Err(bad());
    }
    Ok((n * unit as f64) as usize)
}
