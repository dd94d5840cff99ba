//! `nnopt opt`: optimize a model with a pass pipeline and write IR text, ONNX or TFLite.

use super::common::to_json;
use clap::{Args, ValueEnum};
use nnopt::backends::npu::cost::NpuCost;
use nnopt::backends::npu::target::Target;
use nnopt::compiler::cost::{DefaultCost, OpCost};
use nnopt::compiler::ir::text::{print_graph, PrintOptions};
use nnopt::compiler::pass::{PassRecord, PrintAfter, RunOptions};
use nnopt::learned_opt::{optimize_learned, LearnedChoice, MIN_GAIN};
use nnopt::output::write_atomically;
use nnopt::progress::Progress;
use nnopt::summary::{summarize, ModelSummary};
use nnopt::{Error, ModelFormat, Result};
use nnopt_costmodel::device::Device;
use nnopt_costmodel::predictor::Predictor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Examples in `nnopt opt --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt opt model.onnx                      # default pipeline, prints a summary\n  nnopt opt model.onnx -o opt.nnir          # writes the optimized IR text\n  nnopt opt model.onnx --emit ir            # IR on stdout, large constants elided\n  nnopt opt model.onnx --emit ir --full > opt.nnir   # all of it (parses back)\n  nnopt opt model.onnx --emit onnx -o opt.onnx\n  nnopt opt model.tflite -o opt.tflite        # TFLite out (by the file's extension)\n  nnopt opt model.onnx --target npu --stats -o opt.nnir   # extract by NPU cycles\n  nnopt opt model.onnx --cost learned:cpu -o opt.onnx     # extract by learned CPU latency\n  nnopt opt model.onnx --pipeline p.yaml --print-after-all\n\nPipeline files are YAML:\n  name: mine\n  passes:\n    - identity-removal\n    - name: constant-folding\n      options: { max_elements: 65536 }\n    - dead-node-elimination";

/// Arguments of `nnopt opt`.
#[derive(Args)]
pub struct OptArgs {
    /// Model file (.onnx, .tflite, or .nnir IR text).
    file: PathBuf,
    /// Pipeline file (YAML); without it, the default pipeline runs.
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Output format (default: by the extension of --output, else IR text). Without
    /// --output and --emit, a summary of the optimization is printed instead.
    #[arg(long, value_enum)]
    emit: Option<Emit>,
    /// Output file; `--emit ir` without it prints the IR to stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// With `--emit ir` to stdout: print every constant's values (default: constants
    /// over 16 elements are elided, which cannot be parsed back).
    #[arg(long)]
    full: bool,
    /// Print the IR after every pass (to stderr).
    #[arg(long)]
    print_after_all: bool,
    /// Print the IR after the named pass (repeatable; to stderr).
    #[arg(long, value_name = "NAME")]
    print_after: Vec<String>,
    /// Verify the IR after every pass (always on in debug builds).
    #[arg(long)]
    verify: bool,
    /// Print the summary as JSON to stdout for tools: per-pass records (with each
    /// pass's statistics), nodes, ops, parameters and MACs before and after.
    #[arg(long)]
    json: bool,
    /// Print each pass's own statistics (e-graph size, iterations, stop reason, rule
    /// hits, cost before/after) and timing to stderr.
    #[arg(long)]
    stats: bool,
    /// Optimize for this NPU preset: the e-graph optimizer extracts by its
    /// performance model's cycles (npu, npu-128, npu-256, npu-512, npu-u55-128,
    /// npu-u55-256, npu-u65-256).
    #[arg(long)]
    target: Option<String>,
    /// Optimize for a custom NPU description (YAML); overrides --target.
    #[arg(long, value_name = "FILE.yaml")]
    target_config: Option<PathBuf>,
    /// The cost the e-graph optimizer extracts by: `default`, or `learned:DEVICE` (the
    /// learned cost model's cycles or latency of each op in its int8 form, DEVICE one of
    /// ethos-u55-128, ethos-u55-256, ethos-u65-256, npu-256, cpu; its graph is kept when
    /// the model predicts the whole network at least 3 % cheaper than the default cost's
    /// graph and it computes no more MACs, else the default cost's graph is kept).
    #[arg(long, value_name = "COST", conflicts_with_all = ["target", "target_config"])]
    cost: Option<String>,
    /// The cost model file for `--cost learned:...` (default: the shipped one).
    #[arg(long, value_name = "FILE.safetensors", requires = "cost")]
    cost_model: Option<PathBuf>,
}

/// What the e-graph optimizer extracts by.
enum Extraction {
    Cost(Arc<dyn OpCost>),
    /// A learned cost, checked on the whole network (`nnopt::learned_opt`).
    Learned(Arc<Predictor>, Device),
}

/// The extraction `--cost` names.
fn cost_by_name(spec: &str, model: Option<&Path>) -> Result<Extraction> {
    if spec == "default" {
        return Ok(Extraction::Cost(Arc::new(DefaultCost)));
    }
    let Some(device) = spec.strip_prefix("learned:") else {
        return Err(Error::new(format!(
            "--cost {spec}: the costs are `default` and `learned:DEVICE`"
        )));
    };
    let device = Device::named(device).map_err(|e| Error::new(format!("--cost: {e}")))?;
    let predictor = nnopt::predict::load_predictor(model)?;
    Ok(Extraction::Learned(Arc::new(predictor), device))
}

/// `--emit`.
#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum Emit {
    /// nnopt IR text form.
    Ir,
    /// ONNX model.
    Onnx,
    /// TFLite model.
    Tflite,
}

/// Optimizes the model, then writes it, prints it or prints a summary.
pub fn run(args: OptArgs) -> Result<()> {
    let print_after = if args.print_after_all {
        PrintAfter::All
    } else if args.print_after.is_empty() {
        PrintAfter::None
    } else {
        PrintAfter::Names(args.print_after.clone())
    };
    let opts = RunOptions {
        verify: args.verify,
        print_after,
        print_options: PrintOptions::summary(),
    };
    let extraction = match (&args.target_config, &args.target, &args.cost) {
        (Some(p), _, _) => Extraction::Cost(Arc::new(NpuCost::new(Target::from_file(p)?))),
        (None, Some(t), _) => Extraction::Cost(Arc::new(NpuCost::new(Target::preset(t)?))),
        (None, None, Some(spec)) => cost_by_name(spec, args.cost_model.as_deref())?,
        (None, None, None) => Extraction::Cost(Arc::new(DefaultCost)),
    };
    let emit = match (args.emit, &args.output) {
        (Some(e), _) => Some(e),
        (None, Some(p)) if ModelFormat::from_path(p) == Some(ModelFormat::Onnx) => Some(Emit::Onnx),
        (None, Some(p)) if ModelFormat::from_path(p) == Some(ModelFormat::Tflite) => {
            Some(Emit::Tflite)
        }
        (None, Some(_)) => Some(Emit::Ir),
        (None, None) => None,
    };
    if matches!(emit, Some(Emit::Ir)) && args.output.is_none() && args.json {
        return Err(Error::new(
            "--json prints the summary to stdout: give --output FILE for the IR",
        ));
    }
    let file = &args.file;
    let mut g = nnopt::load_model(file)?;
    let before = summarize(&g);
    let progress = Progress::spinner(&format!("optimizing {}", file.display()));
    let pipeline = args.pipeline.as_deref();
    let optimized = match extraction {
        Extraction::Cost(cost) => {
            nnopt::optimize_with_cost(&mut g, pipeline, &opts, cost).map(|r| (r, None))
        }
        Extraction::Learned(predictor, device) => {
            optimize_learned(&mut g, pipeline, &opts, predictor, &device).map(|(r, c)| (r, Some(c)))
        }
    }
    .map_err(|e| e.in_file(file));
    progress.finish();
    let (records, choice) = optimized?;
    if let (Some(c), false) = (&choice, args.json) {
        eprintln!("{}", describe_choice(c));
    }
    let after = summarize(&g);
    report(&records, args.stats);
    match (emit, &args.output) {
        (Some(Emit::Ir), None) => {
            let print = if args.full {
                PrintOptions::default()
            } else {
                PrintOptions::summary()
            };
            print!("{}", print_graph(&g, &print));
        }
        (Some(Emit::Onnx), None) => return Err(Error::new("--emit onnx needs --output FILE")),
        (Some(Emit::Tflite), None) => return Err(Error::new("--emit tflite needs --output FILE")),
        (Some(e), Some(p)) => {
            let format = match e {
                Emit::Ir => ModelFormat::Ir,
                Emit::Onnx => ModelFormat::Onnx,
                Emit::Tflite => ModelFormat::Tflite,
            };
            write_atomically(p, &nnopt::export(&g, format)?)?;
            if !args.json {
                eprintln!("wrote {}", p.display());
            }
        }
        (None, _) => {}
    }
    if args.json {
        println!(
            "{}",
            to_json(&summary_json(
                &records,
                &before,
                &after,
                args.output.as_deref(),
                choice.as_ref()
            ))
        );
    } else if emit.is_none() {
        print!("{}", render_summary(file, &records, &before, &after));
    }
    Ok(())
}

/// One line on which graph `--cost learned:...` kept, and why.
fn describe_choice(c: &LearnedChoice) -> String {
    let gain = 100.0 * c.gain();
    let figures = format!(
        "{}: {:.4} for the learned extraction, {:.4} for the default cost's",
        c.figure, c.learned, c.default
    );
    if c.kept == "learned" {
        format!("kept the learned cost's graph, predicted {gain:.1} % cheaper ({figures})")
    } else if gain >= 100.0 * MIN_GAIN {
        format!(
            "kept the default cost's graph: the learned cost's computes more MACs (a value \
             computed twice), though predicted {gain:.1} % cheaper ({figures})"
        )
    } else if gain >= 0.0 {
        format!(
            "kept the default cost's graph: the learned cost's is predicted {gain:.1} % \
             cheaper, under the {:.0} % the model can tell apart ({figures})",
            100.0 * MIN_GAIN
        )
    } else {
        format!(
            "kept the default cost's graph: the learned cost's is predicted {:.1} % dearer \
             on the whole network ({figures})",
            -gain
        )
    }
}

/// The summary printed when nothing is written.
fn render_summary(
    file: &Path,
    records: &[PassRecord],
    before: &ModelSummary,
    after: &ModelSummary,
) -> String {
    let total_ms: f64 = records.iter().map(|r| r.micros as f64 / 1e3).sum();
    let mut out = format!(
        "{}: {} nodes -> {} after {} passes ({total_ms:.1} ms)\n\n{:<26} {:>10}  nodes\n",
        file.display(),
        before.nodes,
        after.nodes,
        records.len(),
        "pass",
        "ms"
    );
    for r in records {
        out += &format!(
            "{:<26} {:>10.3}  {}\n",
            r.pass,
            r.micros as f64 / 1e3,
            node_change(r)
        );
    }
    let ops = |s: &ModelSummary| {
        s.ops
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out += &format!(
        "\nops before  {}\nops after   {}\nparameters  {} -> {}\nMACs        {} -> {}\n\n\
         Write the result with -o FILE.nnir (IR text) or -o FILE.onnx, FILE.tflite; --emit ir prints the \
         IR (--full: with every constant).\n",
        ops(before),
        ops(after),
        before.parameters,
        after.parameters,
        before.macs,
        after.macs
    );
    out
}

/// `--json`: the per-pass records and the model before and after.
fn summary_json(
    records: &[PassRecord],
    before: &ModelSummary,
    after: &ModelSummary,
    output: Option<&Path>,
    choice: Option<&LearnedChoice>,
) -> serde_json::Value {
    let passes: Vec<_> = records
        .iter()
        .map(|r| serde_json::json!({"pass": r.pass, "changed": r.changed, "nodes_before": r.nodes_before, "nodes_after": r.nodes_after, "micros": r.micros, "stats": r.stats.as_ref().map(|s| &s.json)}))
        .collect();
    let model = |s: &ModelSummary| serde_json::json!({"nodes": s.nodes, "ops": s.ops, "parameters": s.parameters, "macs": s.macs});
    serde_json::json!({
        "passes": passes,
        "before": model(before),
        "after": model(after),
        "output": output.map(|p| p.display().to_string()),
        "learned_choice": choice,
    })
}

/// `BEFORE -> AFTER` node counts of a pass, marked when it changed nothing.
fn node_change(r: &PassRecord) -> String {
    let unchanged = if r.changed { "" } else { "  (unchanged)" };
    format!("{} -> {}{unchanged}", r.nodes_before, r.nodes_after)
}

/// Prints the IR dumps, and with `stats` the per-pass statistics, to stderr.
fn report(records: &[PassRecord], stats: bool) {
    for r in records {
        if let Some(dump) = &r.dump {
            eprintln!("// IR after {}\n{dump}", r.pass);
        }
    }
    if stats {
        for r in records {
            eprintln!(
                "{:<24} {:>9.3} ms  nodes {}",
                r.pass,
                r.micros as f64 / 1e3,
                node_change(r)
            );
            if let Some(s) = &r.stats {
                for line in s.text.lines() {
                    eprintln!("    {line}");
                }
            }
        }
    }
}
