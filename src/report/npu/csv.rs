//! `nnopt compile --csv DIR`: the per-layer and summary figures as CSV files, in the
//! spirit of Vela's `--verbose-performance` output (`MODEL_per-layer.csv`,
//! `MODEL_summary.csv`). The README documents the columns.

use super::{calibration_summary, layers, totals};
use crate::compile::{Compiled, Precision};
use std::path::{Path, PathBuf};

/// Columns of `MODEL_per-layer.csv`, one row per command of the schedule.
pub const LAYER_COLUMNS: &[&str] = &[
    "index",
    "name",
    "kind",
    "placement",
    "macs",
    "cycles",
    "cycles_share_percent",
    "bound",
    "mac_utilization_percent",
    "weights_raw_bytes",
    "weights_encoded_bytes",
    "dma_bytes",
    "activation_bytes",
    "arena_live_bytes",
    "energy_uj",
];

/// Columns of `MODEL_summary.csv` (one row).
pub const SUMMARY_COLUMNS: &[&str] = &[
    "model",
    "target",
    "precision",
    "clock_mhz",
    "npu_cycles",
    "cpu_cycles",
    "npu_time_ms",
    "inferences_per_second",
    "macs",
    "mac_utilization_percent",
    "energy_uj",
    "dma_bytes",
    "arena_bytes",
    "sram_bytes",
    "arena_fits_sram",
    "weights_raw_bytes",
    "weights_encoded_bytes",
    "binary_bytes",
    "commands",
    "cpu_fallback_ops",
    "calibration",
    "compile_ms",
];

/// The paths and contents of `DIR/MODEL_per-layer.csv` and `DIR/MODEL_summary.csv`.
pub fn csv_files(c: &Compiled, model: &str, dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut per_layer = line(LAYER_COLUMNS.iter().map(|c| c.to_string()));
    for l in layers(c) {
        per_layer += &line([
            l.index.to_string(),
            l.name,
            l.kind.to_string(),
            if l.on_npu { "npu" } else { "cpu" }.to_string(),
            l.macs.to_string(),
            l.cycles.to_string(),
            format!("{:.3}", 100.0 * l.share),
            l.bound.to_string(),
            l.mac_utilization
                .map(|u| format!("{:.3}", 100.0 * u))
                .unwrap_or_default(),
            l.weights_raw.map(|b| b.to_string()).unwrap_or_default(),
            l.weights_encoded.map(|b| b.to_string()).unwrap_or_default(),
            l.dma_bytes.to_string(),
            l.activation_bytes.to_string(),
            l.arena_live_bytes.to_string(),
            format!("{:.6}", l.energy_uj),
        ]);
    }
    let t = totals(c);
    let calibration = calibration_summary(c)
        .lines()
        .find(|l| !l.starts_with("warning"))
        .unwrap_or("")
        .to_string();
    let summary = line(SUMMARY_COLUMNS.iter().map(|c| c.to_string()))
        + &line([
            model.to_string(),
            c.estimate.target.clone(),
            match c.precision {
                Precision::Int8 => "int8",
                Precision::Fp8 => "fp8",
            }
            .to_string(),
            format!("{}", t.clock_hz as f64 / 1e6),
            t.npu_cycles.to_string(),
            t.cpu_cycles.to_string(),
            format!("{:.6}", t.npu_time_ms),
            format!("{:.3}", t.inferences_per_second),
            t.macs.to_string(),
            format!("{:.3}", 100.0 * t.mac_utilization),
            format!("{:.6}", t.energy_uj),
            t.dma_bytes.to_string(),
            t.arena_bytes.to_string(),
            t.sram_bytes.to_string(),
            (t.arena_bytes as u64 <= t.sram_bytes).to_string(),
            t.weights_raw.to_string(),
            t.weights_encoded.to_string(),
            t.binary_bytes.to_string(),
            c.estimate.commands.len().to_string(),
            c.lowering.fallbacks.len().to_string(),
            calibration,
            format!("{:.3}", c.compile_ms),
        ]);
    vec![
        (
            dir.join(format!("{model}_per-layer.csv")),
            per_layer.into_bytes(),
        ),
        (
            dir.join(format!("{model}_summary.csv")),
            summary.into_bytes(),
        ),
    ]
}

/// One CSV record: fields with commas, quotes or line breaks are quoted (RFC 4180).
fn line(fields: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> = fields
        .into_iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(
            line(["a".into(), "b,c".into(), "say \"x\"".into()]),
            "a,\"b,c\",\"say \"\"x\"\"\"\n"
        );
    }
}
