//! The per-layer table `nnopt compile` prints.

use super::{layers, totals, Layer, Totals};
use crate::compile::Compiled;
use std::fmt::Write;

/// Shortens long layer names (TFLite names join several ops with ';').
pub(super) fn short(name: &str, width: usize) -> String {
    let name = name.split(';').next().unwrap_or(name);
    if name.chars().count() <= width {
        return name.to_string();
    }
    let tail: String = name
        .chars()
        .rev()
        .take(width - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// The per-layer table and totals.
pub fn render_table(c: &Compiled, model: &str) -> String {
    table_of(c, model, &layers(c), &totals(c))
}

/// The table of `c` from its rows and totals, computed once by the caller.
pub(super) fn table_of(c: &Compiled, model: &str, rows: &[Layer], t: &Totals) -> String {
    let e = &c.estimate;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{model} -> {} ({} bytes, {})",
        e.target,
        c.binary.len(),
        match c.precision {
            crate::compile::Precision::Int8 => "int8",
            crate::compile::Precision::Fp8 => "fp8 e4m3",
        }
    );
    let _ = writeln!(
        s,
        "{:>3}  {:<36} {:<15} {:>11} {:>10} {:>6} {:<7} {:>8} {:>9} {:>10} {:>9}",
        "#",
        "layer",
        "kind",
        "MACs",
        "cycles",
        "share",
        "bound",
        "MAC util",
        "weights",
        "DMA bytes",
        "energy uJ"
    );
    for l in rows {
        let w = l
            .weights_encoded
            .map_or_else(|| "-".into(), |b| b.to_string());
        let util = l
            .mac_utilization
            .map_or_else(|| "-".into(), |u| format!("{:.1}%", 100.0 * u));
        let _ = writeln!(
            s,
            "{:>3}  {:<36} {:<15} {:>11} {:>10} {:>5.1}% {:<7} {:>8} {:>9} {:>10} {:>9.3}",
            l.index,
            short(&l.name, 36),
            l.kind,
            l.macs,
            l.cycles,
            100.0 * l.share,
            l.bound,
            util,
            w,
            l.dma_bytes,
            l.energy_uj
        );
    }
    let _ = writeln!(
        s,
        "\nNPU: {} cycles = {:.3} ms at {} MHz ({:.0} inferences/s), {:.1} uJ, {} MACs \
         ({:.1}% MAC utilization); CPU fallback: {} cycles",
        e.npu_cycles,
        e.npu_time_ms,
        t.clock_hz as f64 / 1e6,
        t.inferences_per_second,
        e.energy_uj,
        e.macs,
        100.0 * t.mac_utilization,
        e.cpu_cycles
    );
    let _ = writeln!(
        s,
        "weights: {} bytes raw -> {} encoded ({:.3}x, lossless); arena: {} bytes peak vs {} \
         naive ({} in SRAM)",
        t.weights_raw,
        t.weights_encoded,
        t.weights_encoded as f64 / t.weights_raw.max(1) as f64,
        c.lowering.arena_bytes,
        c.lowering.naive_bytes,
        if e.arena_fits_sram {
            "fits"
        } else {
            "does not fit"
        }
    );
    if c.lowering.fallbacks.is_empty() {
        let _ = writeln!(s, "every op runs on the NPU");
    } else {
        let _ = writeln!(s, "CPU fallbacks ({}):", c.lowering.fallbacks.len());
        for f in &c.lowering.fallbacks {
            let _ = writeln!(s, "  {} ({}): {}", short(&f.node, 48), f.op, f.reason);
        }
    }
    let _ = writeln!(s, "compiled in {:.1} ms", c.compile_ms);
    s
}
