//! Results of `nnopt compile --target npu` for people and tools: the per-layer table on
//! the terminal (`table.rs`), the HTML report with SVG charts (`html.rs`) and CSV files
//! (`csv.rs`), all drawn from the same [`Layer`] rows and [`Totals`].

mod csv;
mod html;
mod svg;
mod table;

pub use csv::{csv_files, LAYER_COLUMNS, SUMMARY_COLUMNS};
pub use html::render_html;
pub use table::render_table;

use crate::compile::{Compiled, Precision};
use nnopt_backends::npu::perf::Bound;
use nnopt_backends::npu::program::Program;

/// One command of the schedule with its estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub index: usize,
    pub name: String,
    /// The NPU command (`conv2d`, `lookup`, ...) or `cpu` for a CPU-fallback segment.
    pub kind: String,
    pub on_npu: bool,
    pub macs: u64,
    pub cycles: u64,
    /// Share of all estimated cycles (NPU and CPU).
    pub share: f64,
    /// `compute`, `memory` or `cpu`.
    pub bound: &'static str,
    /// MACs over what the MAC array could do in the command's cycles (conv and fully
    /// connected commands).
    pub mac_utilization: Option<f64>,
    /// Raw and encoded bytes of the command's weight block.
    pub weights_raw: Option<usize>,
    pub weights_encoded: Option<usize>,
    pub dma_bytes: u64,
    pub activation_bytes: u64,
    /// Arena bytes holding live tensors while the command runs.
    pub arena_live_bytes: u64,
    pub energy_uj: f64,
}

/// Whole-program figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    pub clock_hz: u64,
    pub npu_cycles: u64,
    pub cpu_cycles: u64,
    /// NPU time at the clock (CPU segments excluded).
    pub npu_time_ms: f64,
    /// Inferences per second the NPU time allows (CPU segments excluded).
    pub inferences_per_second: f64,
    pub macs: u64,
    /// All MACs over what the MAC array could do in the NPU cycles.
    pub mac_utilization: f64,
    pub energy_uj: f64,
    pub dma_bytes: u64,
    pub arena_bytes: usize,
    pub sram_bytes: u64,
    pub weights_raw: usize,
    pub weights_encoded: usize,
    pub binary_bytes: usize,
}

/// The rows of `c`'s schedule.
pub fn layers(c: &Compiled) -> Vec<Layer> {
    let e = &c.estimate;
    let all_cycles = (e.npu_cycles + e.cpu_cycles).max(1) as f64;
    let live = arena_live_bytes(&c.program);
    let macs_per_cycle = macs_per_cycle(c);
    e.commands
        .iter()
        .enumerate()
        .map(|(index, l)| {
            let block = c.weights.iter().find(|w| w.layer == l.name);
            let mac_layer = matches!(l.kind.as_str(), "conv2d" | "fully_connected");
            Layer {
                index,
                name: l.name.clone(),
                kind: l.kind.clone(),
                on_npu: l.bound != Bound::Cpu,
                macs: l.macs,
                cycles: l.cycles,
                share: l.cycles as f64 / all_cycles,
                bound: match l.bound {
                    Bound::Compute => "compute",
                    Bound::Memory => "memory",
                    Bound::Cpu => "cpu",
                },
                mac_utilization: (mac_layer && l.cycles > 0 && l.bound != Bound::Cpu)
                    .then(|| l.macs as f64 / (l.cycles as f64 * macs_per_cycle)),
                weights_raw: block.map(|b| b.raw_bytes),
                weights_encoded: block.map(|b| b.encoded_bytes),
                dma_bytes: l.dma_bytes,
                activation_bytes: l.activation_bytes,
                arena_live_bytes: live.get(index).copied().unwrap_or(0),
                energy_uj: l.energy_uj,
            }
        })
        .collect()
}

/// The program's totals.
pub fn totals(c: &Compiled) -> Totals {
    let e = &c.estimate;
    let (weights_raw, weights_encoded) = c.weight_totals();
    let npu_seconds = e.npu_cycles as f64 / c.target.clock_hz.max(1) as f64;
    Totals {
        clock_hz: c.target.clock_hz,
        npu_cycles: e.npu_cycles,
        cpu_cycles: e.cpu_cycles,
        npu_time_ms: e.npu_time_ms,
        inferences_per_second: if npu_seconds > 0.0 {
            1.0 / npu_seconds
        } else {
            0.0
        },
        macs: e.macs,
        mac_utilization: e.macs as f64 / (e.npu_cycles.max(1) as f64 * macs_per_cycle(c)),
        energy_uj: e.energy_uj,
        dma_bytes: e.dma_bytes,
        arena_bytes: c.lowering.arena_bytes,
        sram_bytes: c.target.sram_bytes,
        weights_raw,
        weights_encoded,
        binary_bytes: c.binary.len(),
    }
}

/// The MAC array's rate for the program's precision.
fn macs_per_cycle(c: &Compiled) -> f64 {
    match c.precision {
        Precision::Int8 => c.target.int8_macs_per_cycle,
        Precision::Fp8 => c.target.fp8_macs_per_cycle,
    }
    .max(1) as f64
}

/// The calibration summary of a PTQ compilation (empty for models already quantized).
pub fn calibration_summary(c: &Compiled) -> String {
    match (&c.fp8, c.precision) {
        (Some(r), Precision::Fp8) => r.to_string(),
        _ if c.quantization.already_quantized => String::new(),
        _ => c.quantization.to_string(),
    }
}

/// Per command, the arena bytes that hold live tensors while it runs: the union of the
/// byte ranges of the tensors written before and read at or after it (graph inputs live
/// from the start, graph outputs to the end; aliases share their bytes).
fn arena_live_bytes(p: &Program) -> Vec<u64> {
    let n = p.commands.len();
    let mut first = vec![usize::MAX; p.tensors.len()];
    let mut last = vec![0usize; p.tensors.len()];
    let mut touch = |t: usize, i: usize| {
        if let (Some(f), Some(l)) = (first.get_mut(t), last.get_mut(t)) {
            *f = (*f).min(i);
            *l = (*l).max(i);
        }
    };
    for b in &p.inputs {
        touch(b.tensor, 0);
    }
    for (i, c) in p.commands.iter().enumerate() {
        for t in c.inputs(p).into_iter().chain(c.outputs(p)) {
            touch(t, i);
        }
    }
    for b in &p.outputs {
        touch(b.tensor, n.saturating_sub(1));
    }
    (0..n)
        .map(|i| {
            let mut ranges: Vec<(usize, usize)> = p
                .tensors
                .iter()
                .enumerate()
                .filter(|&(t, _)| first[t] <= i && i <= last[t])
                .map(|(_, t)| (t.offset, t.offset + t.size))
                .collect();
            ranges.sort_unstable();
            let (mut total, mut end) = (0usize, 0usize);
            for (lo, hi) in ranges {
                let lo = lo.max(end);
                if hi > lo {
                    total += hi - lo;
                    end = hi;
                }
            }
            total as u64
        })
        .collect()
}
