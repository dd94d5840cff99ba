//! What `nnopt run` shows of a model's outputs: their values (quantized outputs also
//! dequantized), and for classifier-shaped outputs the top-5 classes, as text or JSON.

use crate::runner::{real_values, Port};
use nnopt_compiler::ir::Tensor;
use serde::Serialize;
use std::fmt::Write;

/// Values per output in `--json` (the first ones, in row-major order).
pub const JSON_VALUES: usize = 1000;
/// Classes listed per row of a classifier output.
const TOP: usize = 5;
/// Rows of a classifier output shown as text.
const TEXT_ROWS: usize = 3;

/// One output, summarized.
#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Where it was written, if it was.
    pub file: Option<String>,
    /// Scale and zero point of a quantized output.
    pub scale: Option<f32>,
    pub zero_point: Option<i64>,
    /// Number of values; `values` holds the first [`JSON_VALUES`].
    pub elements: usize,
    /// The raw values (codes of a quantized output; FP8 outputs as their bits).
    pub values: Vec<f64>,
    /// `scale * (code - zero_point)` of a quantized output.
    pub dequantized: Option<Vec<f64>>,
    /// Of a classifier-shaped output (`[k, C]`, or `[1, ..., 1, C]`): per row (the
    /// first [`JSON_VALUES`] rows), the top classes by score, best first.
    pub top5: Option<Vec<Vec<ClassScore>>>,
}

/// A class and its (dequantized) score.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ClassScore {
    pub class: usize,
    pub score: f64,
}

impl OutputReport {
    /// Summarizes output `t` of `port`, written to `file` if given.
    pub fn new(port: &Port, t: &Tensor, file: Option<String>) -> Self {
        let raw = t.to_f64_vec();
        let real: Option<Vec<f64>> = port.quant.map(|q| real_values(t, Some(q)));
        let scores = real.as_ref().unwrap_or(&raw);
        let top5 = classes(t.shape()).map(|c| {
            scores
                .chunks(c)
                .take(JSON_VALUES)
                .map(|row| {
                    let mut order: Vec<usize> = (0..row.len()).collect();
                    // Highest score first; ties by class index (a stable sort).
                    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                    order
                        .into_iter()
                        .take(TOP)
                        .map(|class| ClassScore {
                            class,
                            score: row[class],
                        })
                        .collect()
                })
                .collect()
        });
        OutputReport {
            name: port.name.clone(),
            dtype: t.dtype().to_string(),
            shape: t.shape().to_vec(),
            file,
            scale: port.quant.map(|q| q.0),
            zero_point: port.quant.map(|q| q.1),
            elements: raw.len(),
            values: raw.iter().take(JSON_VALUES).copied().collect(),
            dequantized: real.map(|r| r.into_iter().take(JSON_VALUES).collect()),
            top5,
        }
    }

    /// Several lines for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let quant = match (self.scale, self.zero_point) {
            (Some(s), Some(z)) => format!(" (scale {s}, zero point {z})"),
            _ => String::new(),
        };
        let dest = self
            .file
            .as_ref()
            .map(|f| format!(" -> {f}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}: {}{:?}{quant}{dest}",
            self.name, self.dtype, self.shape
        );
        let head = |v: &[f64]| {
            let shown: Vec<String> = v.iter().take(8).map(|x| format!("{x}")).collect();
            let more = if self.elements > 8 { ", ..." } else { "" };
            format!("[{}{more}]", shown.join(", "))
        };
        match &self.dequantized {
            Some(real) => {
                let _ = writeln!(out, "  codes        {}", head(&self.values));
                let rounded: Vec<f64> = real.iter().map(|v| (v * 1e6).round() / 1e6).collect();
                let _ = writeln!(out, "  dequantized  {}", head(&rounded));
            }
            None => {
                let _ = writeln!(out, "  values       {}", head(&self.values));
            }
        }
        if let Some(rows) = &self.top5 {
            for (r, row) in rows.iter().take(TEXT_ROWS).enumerate() {
                let best: Vec<String> = row
                    .iter()
                    .map(|c| format!("{} ({:.4})", c.class, c.score))
                    .collect();
                let label = match rows.len() {
                    1 => "  top-5".to_string(),
                    _ => format!("  top-5 row {r}"),
                };
                let _ = writeln!(out, "{label:<13}{}", best.join(", "));
            }
            let rows_in_all = self.shape.first().copied().unwrap_or(1);
            if rows.len() > TEXT_ROWS && self.shape.len() == 2 {
                let _ = writeln!(out, "  ... {rows_in_all} rows in all");
            }
        }
        out
    }
}

/// The number of classes of a classifier-shaped output: `[k, C]` or `[1, ..., 1, C]`
/// with at least two classes.
pub fn classes(shape: &[usize]) -> Option<usize> {
    match shape {
        [_, c] if *c >= 2 => Some(*c),
        [lead @ .., c] if *c >= 2 && !lead.is_empty() && lead.iter().all(|&d| d == 1) => Some(*c),
        _ => None,
    }
}
