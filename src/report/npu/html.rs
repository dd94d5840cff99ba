//! The HTML report of `nnopt compile --report`: totals, the calibration summary, charts of
//! per-layer cycles (by what bounds them), MAC utilization, the arena over the schedule
//! and weight bytes, each bar titled with its layer, and the table.

use super::super::escape;
use super::svg::{bar_chart, Bar, Rule};
use super::table::table_of;
use super::{calibration_summary, layers, totals, Layer};
use crate::compile::Compiled;

const COMPUTE: &str = "#3168b2";
const MEMORY: &str = "#e8892b";
const CPU: &str = "#8a8a8a";
const ARENA: &str = "#5b9a68";
const LIMIT: &str = "#c0392b";

/// What a bar's hover title says about a layer.
fn describe(l: &Layer) -> String {
    let util = l
        .mac_utilization
        .map(|u| format!(", MAC utilization {:.1} %", 100.0 * u))
        .unwrap_or_default();
    let weights = l
        .weights_encoded
        .map(|w| format!(", weights {w} bytes"))
        .unwrap_or_default();
    format!(
        "#{} {}\n{} on the {}: {} cycles ({:.1} % of all), {}-bound, {} MACs{util}{weights}, \
         arena live {} bytes",
        l.index,
        l.name,
        l.kind,
        if l.on_npu { "NPU" } else { "CPU" },
        l.cycles,
        100.0 * l.share,
        l.bound,
        l.macs,
        l.arena_live_bytes
    )
}

fn bound_color(l: &Layer) -> &'static str {
    match l.bound {
        "compute" => COMPUTE,
        "memory" => MEMORY,
        _ => CPU,
    }
}

/// The report page.
pub fn render_html(c: &Compiled, model: &str) -> String {
    let rows = layers(c);
    let t = totals(c);
    let bars = |value: &dyn Fn(&Layer) -> f64, color: &dyn Fn(&Layer) -> &'static str| {
        rows.iter()
            .map(|l| Bar {
                value: value(l),
                color: color(l),
                title: describe(l),
            })
            .collect::<Vec<_>>()
    };
    let by_bound = [
        (COMPUTE, "compute-bound"),
        (MEMORY, "memory-bound"),
        (CPU, "CPU fallback"),
    ];
    let cycles_svg = bar_chart(
        "Cycles per layer",
        "cycles",
        &bars(&|l| l.cycles as f64, &bound_color),
        &[],
        &by_bound,
    );
    let util_svg = bar_chart(
        "MAC utilization per layer (convolutions and fully connected)",
        "% of the MAC array",
        &bars(&|l| 100.0 * l.mac_utilization.unwrap_or(0.0), &bound_color),
        &[],
        &by_bound,
    );
    let mut rules = vec![Rule {
        value: t.arena_bytes as f64,
        color: LIMIT,
        label: format!("arena {} bytes", t.arena_bytes),
    }];
    // The SRAM line only where it does not flatten the timeline.
    if (t.sram_bytes as f64) <= 4.0 * t.arena_bytes.max(1) as f64 {
        rules.push(Rule {
            value: t.sram_bytes as f64,
            color: "#7d3c98",
            label: format!("SRAM {} bytes", t.sram_bytes),
        });
    }
    let arena_svg = bar_chart(
        "Arena bytes holding live tensors while each layer runs",
        "bytes",
        &bars(&|l| l.arena_live_bytes as f64, &|_| ARENA),
        &rules,
        &[(ARENA, "live tensors")],
    );
    let weights_svg = bar_chart(
        "Encoded weight bytes per layer",
        "bytes",
        &bars(&|l| l.weights_encoded.unwrap_or(0) as f64, &bound_color),
        &[],
        &by_bound,
    );
    let calibration = calibration_summary(c);
    let calibration = if calibration.is_empty() {
        "<p>The model was already quantized: no calibration.</p>".to_string()
    } else {
        format!("<pre>{}</pre>", escape(&calibration))
    };
    let cpu_note = if t.cpu_cycles > 0 {
        format!(
            " CPU-fallback segments add about {} cycles of host work, not counted in the NPU \
             time.",
            t.cpu_cycles
        )
    } else {
        String::new()
    };
    let sram = if t.arena_bytes as u64 <= t.sram_bytes {
        "fits in"
    } else {
        "does not fit in"
    };
    let table = escape(&table_of(c, model, &rows, &t));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nnopt: {title} on {target}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}\
         pre{{font-size:12px;overflow-x:auto}}td{{padding:2px 12px 2px 0}}\
         figure{{margin:1em 0}}</style>\
         </head><body>\n<h1>{title} on {target}</h1>\n\
         <table>\
         <tr><td>NPU time</td><td><b>{cycles}</b> cycles = <b>{ms:.3} ms</b> at {mhz} MHz: \
         <b>{ips:.0} inferences/s</b></td></tr>\
         <tr><td>MACs</td><td>{macs} ({util:.1} % MAC utilization over the NPU time)</td></tr>\
         <tr><td>energy</td><td>{uj:.1} uJ per inference</td></tr>\
         <tr><td>memory</td><td>arena {arena} bytes ({sram} {sram_bytes} bytes of SRAM); \
         off-chip traffic {dma} bytes</td></tr>\
         <tr><td>weights</td><td>{raw} bytes raw, {enc} encoded (lossless); binary {bin} bytes\
         </td></tr>\
         <tr><td>layers</td><td>{n} commands, {npu} on the NPU, {cpu} CPU-fallback segments\
         </td></tr></table>\n<p>{cpu_note}</p>\n\
         <h2>Calibration</h2>\n{calibration}\n<h2>Layers</h2>\n\
         <p>Hover a bar for the layer's name and figures. Blue: compute-bound (the MAC array \
         or the vector unit limits it); orange: memory-bound (weights or activations \
         streaming limit it); grey: CPU fallback.</p>\n\
         <figure>{cycles_svg}</figure>\n<figure>{util_svg}</figure>\n\
         <figure>{arena_svg}</figure>\n<figure>{weights_svg}</figure>\n\
         <h2>Table</h2>\n<pre>{table}</pre>\n</body></html>\n",
        title = escape(model),
        target = escape(&c.estimate.target),
        cycles = t.npu_cycles,
        ms = t.npu_time_ms,
        mhz = t.clock_hz as f64 / 1e6,
        ips = t.inferences_per_second,
        macs = t.macs,
        util = 100.0 * t.mac_utilization,
        uj = t.energy_uj,
        arena = t.arena_bytes,
        sram_bytes = t.sram_bytes,
        dma = t.dma_bytes,
        raw = t.weights_raw,
        enc = t.weights_encoded,
        bin = t.binary_bytes,
        n = rows.len(),
        npu = rows.iter().filter(|l| l.on_npu).count(),
        cpu = rows.iter().filter(|l| !l.on_npu).count(),
    )
}
