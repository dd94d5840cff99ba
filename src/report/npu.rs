//! Human-readable results of `nnopt compile --target npu`: the per-layer table printed on
//! the terminal and the HTML report with SVG charts.

use super::escape;
use crate::compile::Compiled;
use nnopt_compiler::{Error, Result};
use plotters::prelude::*;
use std::fmt::Write;

/// Shortens long layer names (TFLite names join several ops with ';').
fn short(name: &str, width: usize) -> String {
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
        "{:>3}  {:<36} {:<15} {:>11} {:>10} {:<7} {:>9} {:>10} {:>9}",
        "#", "layer", "kind", "MACs", "cycles", "bound", "weights", "DMA bytes", "energy uJ"
    );
    let weights_of = |name: &str| {
        c.weights
            .iter()
            .find(|w| w.layer == name)
            .map(|w| w.encoded_bytes)
    };
    for (i, l) in e.commands.iter().enumerate() {
        let w = weights_of(&l.name).map_or_else(|| "-".into(), |b| b.to_string());
        let bound = serde_json::to_value(l.bound)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:>3}  {:<36} {:<15} {:>11} {:>10} {:<7} {:>9} {:>10} {:>9.3}",
            i,
            short(&l.name, 36),
            l.kind,
            l.macs,
            l.cycles,
            bound,
            w,
            l.dma_bytes,
            l.energy_uj
        );
    }
    let (raw, enc) = c.weight_totals();
    let _ = writeln!(
        s,
        "\nNPU: {} cycles = {:.3} ms at the target clock, {:.1} uJ, {} MACs; CPU fallback: {} cycles",
        e.npu_cycles, e.npu_time_ms, e.energy_uj, e.macs, e.cpu_cycles
    );
    let _ = writeln!(
        s,
        "weights: {raw} bytes raw -> {enc} encoded ({:.3}x, lossless); arena: {} bytes peak vs {} naive ({} in SRAM)",
        enc as f64 / raw.max(1) as f64,
        c.lowering.arena_bytes,
        c.lowering.naive_bytes,
        if e.arena_fits_sram { "fits" } else { "does not fit" }
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

/// A bar chart (SVG) of one value per layer.
fn bar_chart(title: &str, y_desc: &str, values: &[u64]) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the '{title}' chart: {e}"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let top = values.iter().copied().max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d((0..values.len().max(1)).into_segmented(), 0..top + top / 10)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("layer #")
            .y_desc(y_desc)
            .disable_x_mesh()
            .draw()
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(49, 104, 178).filled())
                    .margin(1)
                    .data(values.iter().enumerate().map(|(i, &v)| (i, v))),
            )
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// The HTML report: totals, charts of per-layer cycles and weight bytes, the table.
pub fn render_html(c: &Compiled, model: &str) -> Result<String> {
    let cycles: Vec<u64> = c.estimate.commands.iter().map(|l| l.cycles).collect();
    let weights: Vec<u64> = c.estimate.commands.iter().map(|l| l.weight_bytes).collect();
    let cycles_svg = bar_chart("Cycles per layer", "cycles", &cycles)?;
    let weights_svg = bar_chart("Encoded weight bytes per layer", "bytes", &weights)?;
    let table = escape(&render_table(c, model));
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nnopt: {title} on {target}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}pre{{font-size:12px;overflow-x:auto}}</style>\
         </head><body>\n<h1>{title} on {target}</h1>\n\
         <p>{cycles} NPU cycles ({ms:.3} ms), {uj:.1} uJ, arena {arena} bytes, binary {bin} bytes.</p>\n\
         <figure>{cycles_svg}</figure>\n<figure>{weights_svg}</figure>\n<h2>Layers</h2>\n<pre>{table}</pre>\n</body></html>\n",
        title = escape(model),
        target = escape(&c.estimate.target),
        cycles = c.estimate.npu_cycles,
        ms = c.estimate.npu_time_ms,
        uj = c.estimate.energy_uj,
        arena = c.lowering.arena_bytes,
        bin = c.binary.len(),
    ))
}
