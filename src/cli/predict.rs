//! `nnopt predict`: a model's latency, cycles, memory and energy on a device, from the
//! learned cost model, in total and per operator.

use super::common::to_json;
use clap::Args;
use nnopt::predict::{int8_form, load_predictor, predict, Prediction};
use nnopt::{Error, Result};
use nnopt_costmodel::device::Device;
use std::path::PathBuf;

/// Examples in `nnopt predict --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt predict model.tflite                          # ethos-u55-256, per layer\n  nnopt predict model.tflite --target ethos-u65-256 --json\n  nnopt predict model.onnx --target npu-256           # float models are priced as int8\n  nnopt predict model.tflite --model mine.safetensors --target cpu\n\nTargets: ethos-u55-128, ethos-u55-256, ethos-u65-256 (as Arm's Vela estimates them, at\n500 MHz / 1 GHz), npu-256 (nnopt's NPU model, with energy) and cpu (LiteRT's XNNPACK on one\nthread of the machine that made the dataset: a 2-core x86-64 for the shipped model).\nThe shipped model is trained on random networks from five search spaces; see the README\nfor its measured accuracy.";

/// Arguments of `nnopt predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// Model file (.tflite, .onnx or .nnir).
    file: PathBuf,
    /// The device.
    #[arg(long, default_value = "ethos-u55-256")]
    target: String,
    /// A cost model file from `nnopt costmodel train` (default: the shipped one).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print JSON: target, cycles, latency_ms, sram_bytes, off_chip_bytes, energy_uj
    /// (where the device has them) and layers.
    #[arg(long)]
    json: bool,
}

/// Predicts and prints.
pub fn run(args: &PredictArgs) -> Result<()> {
    let device = Device::named(&args.target).map_err(|e| Error::new(format!("--target: {e}")))?;
    let predictor = load_predictor(args.model.as_deref())?;
    let file = &args.file;
    let g = nnopt::load_model(file)?;
    let name = super::common::file_stem(file);
    let graph = int8_form(file, &g).map_err(|e| e.in_file(file))?.features;
    if graph.nodes.is_empty() {
        return Err(Error::new("the model has no operators to price").in_file(file));
    }
    let p = predict(&predictor, &graph, &device).map_err(|e| e.in_file(file))?;
    if args.json {
        println!("{}", to_json(&p));
    } else {
        print!("{}", render(&p, &name));
    }
    Ok(())
}

/// The per-layer table and the totals.
fn render(p: &Prediction, name: &str) -> String {
    let mut out = format!("{name} on {} (learned cost model)\n", p.target);
    let cycles = p.cycles.is_some();
    out += &format!(
        "{:<32} {:<22} {:>12} {:>11} {:>7}\n",
        "layer",
        "op",
        if cycles { "cycles" } else { "" },
        "ms",
        "%"
    );
    for l in &p.layers {
        out += &format!(
            "{:<32} {:<22} {:>12} {:>11.4} {:>7.1}\n",
            truncate(&l.name, 32),
            truncate(&l.op, 22),
            l.cycles.map(|c| format!("{c:.0}")).unwrap_or_default(),
            l.latency_ms,
            l.percent
        );
    }
    out += "\n";
    if let Some(c) = p.cycles {
        out += &format!("cycles          {c:.0}\n");
    }
    out += &format!("latency         {:.4} ms\n", p.latency_ms);
    if let Some(s) = p.sram_bytes {
        out += &format!("SRAM            {:.1} KiB\n", s / 1024.0);
    }
    if let Some(b) = p.off_chip_bytes {
        out += &format!("off-chip        {:.1} KiB\n", b / 1024.0);
    }
    if let Some(e) = p.energy_uj {
        out += &format!("energy          {e:.2} µJ\n");
    }
    out
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let head: String = s.chars().take(n - 1).collect();
        format!("{head}…")
    }
}
