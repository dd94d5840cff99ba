//! `nnopt opt`: optimize a model with a pass pipeline and write IR text or ONNX.

use super::common::to_json;
use clap::{Args, ValueEnum};
use nnopt::backends::npu::cost::NpuCost;
use nnopt::backends::npu::target::Target;
use nnopt::compiler::cost::{DefaultCost, OpCost};
use nnopt::compiler::ir::text::{print_graph, PrintOptions};
use nnopt::compiler::pass::{PassRecord, PrintAfter, RunOptions};
use nnopt::output::write_atomically;
use nnopt::{Error, ModelFormat, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// Examples in `nnopt opt --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt opt model.onnx                      # default pipeline, IR on stdout\n  nnopt opt model.onnx --emit onnx -o opt.onnx\n  nnopt opt model.onnx --target npu --stats -o opt.nnir   # extract by NPU cycles\n  nnopt opt model.onnx --pipeline p.yaml --print-after-all\n\nPipeline files are YAML:\n  name: mine\n  passes:\n    - identity-removal\n    - name: constant-folding\n      options: { max_elements: 65536 }\n    - dead-node-elimination";

/// Arguments of `nnopt opt`.
#[derive(Args)]
pub struct OptArgs {
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
}

/// `--emit`.
#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    /// nnopt IR text form.
    Ir,
    /// ONNX model.
    Onnx,
}

/// Optimizes the model, reports on the passes (to stderr) and writes the result.
pub fn run(args: OptArgs) -> Result<()> {
    let print_after = if args.print_after_all {
        PrintAfter::All
    } else if args.print_after.is_empty() {
        PrintAfter::None
    } else {
        PrintAfter::Names(args.print_after)
    };
    let opts = RunOptions {
        verify: args.verify,
        print_after,
        print_options: PrintOptions::summary(),
    };
    let cost: Arc<dyn OpCost> = match (&args.target_config, &args.target) {
        (Some(p), _) => Arc::new(NpuCost::new(Target::from_file(p)?)),
        (None, Some(t)) => Arc::new(NpuCost::new(Target::preset(t)?)),
        (None, None) => Arc::new(DefaultCost),
    };
    let file = &args.file;
    let mut g = nnopt::load_model(file)?;
    let records = nnopt::optimize_with_cost(&mut g, args.pipeline.as_deref(), &opts, cost)
        .map_err(|e| e.in_file(file))?;
    report(&records, args.stats, args.json);
    match (args.emit, &args.output) {
        (Emit::Ir, None) => {
            print!("{}", print_graph(&g, &PrintOptions::default()));
            Ok(())
        }
        (Emit::Onnx, None) => Err(Error::new("--emit onnx needs --output FILE")),
        (Emit::Ir, Some(p)) => write_atomically(p, &nnopt::export(&g, ModelFormat::Ir)?),
        (Emit::Onnx, Some(p)) => write_atomically(p, &nnopt::export(&g, ModelFormat::Onnx)?),
    }
}

/// Prints the IR dumps, and with `stats` or `json` the per-pass statistics, to stderr.
fn report(records: &[PassRecord], stats: bool, json: bool) {
    for r in records {
        if let Some(dump) = &r.dump {
            eprintln!("// IR after {}\n{dump}", r.pass);
        }
    }
    if stats {
        for r in records {
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
    if json {
        let stats: Vec<_> = records
            .iter()
            .map(|r| serde_json::json!({"pass": r.pass, "changed": r.changed, "nodes_before": r.nodes_before, "nodes_after": r.nodes_after, "micros": r.micros, "stats": r.stats.as_ref().map(|s| &s.json)}))
            .collect();
        eprintln!("{}", to_json(&stats));
    }
}
