//! Human-readable results of `nnopt fl simulate`: the terminal summary and the HTML
//! report with SVG accuracy curves.

use super::escape;
use nnopt_compiler::{Error, Result};
use nnopt_train::fl::simulate::Simulation;
use plotters::prelude::*;
use std::fmt::Write;

/// Per-round table (every `every`-th round and the last) and totals.
pub fn render_table(s: &Simulation, every: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} FedAvg{}, {} clients ({}), {} local epoch(s), seed {}: test accuracy {:.2} % -> {:.2} %",
        s.precision,
        if s.messages == s.precision {
            String::new()
        } else {
            format!(" with {} messages", s.messages)
        },
        s.clients,
        s.partition,
        s.local_epochs,
        s.seed,
        100.0 * s.initial_accuracy,
        100.0 * s.final_accuracy
    );
    let _ = writeln!(
        out,
        "{:>6} {:>9} {:>11} {:>13} {:>13}",
        "round", "accuracy", "train loss", "bytes up", "bytes down"
    );
    let last = s.rounds.len();
    for r in s
        .rounds
        .iter()
        .filter(|r| r.round % every.max(1) == 0 || r.round == last || r.round == 1)
    {
        let _ = writeln!(
            out,
            "{:>6} {:>8.2}% {:>11.4} {:>13} {:>13}",
            r.round,
            100.0 * r.accuracy,
            r.train_loss,
            r.bytes_up,
            r.bytes_down
        );
    }
    let last = match s.rounds.len().min(5) {
        1 => "the one round".to_string(),
        n => format!("the last {n} rounds"),
    };
    let _ = writeln!(
        out,
        "mean accuracy over {last}: {:.2} %",
        100.0 * s.last_5_rounds_accuracy
    );
    let _ = writeln!(
        out,
        "messages: broadcast {} bytes, update {} bytes; total {} up + {} down = {} bytes",
        s.broadcast_bytes,
        s.update_bytes,
        s.total_bytes_up,
        s.total_bytes_down,
        s.total_bytes_up + s.total_bytes_down
    );
    let _ = match (s.bytes_to_target, s.rounds_to_target) {
        (Some(b), Some(r)) => writeln!(
            out,
            "reached {:.0} % in round {r} after {b} bytes",
            100.0 * s.target_accuracy
        ),
        _ => writeln!(out, "never reached {:.0} %", 100.0 * s.target_accuracy),
    };
    out
}

/// Series colours: FP8, then FP32.
const COLOURS: [RGBColor; 2] = [RGBColor(200, 70, 40), RGBColor(49, 104, 178)];

/// A line chart (SVG) of accuracy against `x` for each simulation.
fn accuracy_chart(
    title: &str,
    x_desc: &str,
    sims: &[&Simulation],
    x: impl Fn(&Simulation) -> Vec<f64>,
) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the '{title}' chart: {e}"));
    let xs: Vec<Vec<f64>> = sims.iter().map(|s| x(s)).collect();
    let x_max = xs.iter().flatten().fold(1f64, |m, &v| m.max(v));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max * 1.02, 0f64..100f64)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("test accuracy (%)")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (k, (s, xv)) in sims.iter().zip(&xs).enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let points: Vec<(f64, f64)> = xv
                .iter()
                .zip(&s.rounds)
                .map(|(&x, r)| (x, 100.0 * r.accuracy))
                .collect();
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(s.precision.to_uppercase())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// The HTML report: accuracy against rounds and against cumulative bytes (up + down)
/// for each simulation, side by side, and their tables.
pub fn render_html(program: &str, sims: &[&Simulation]) -> Result<String> {
    let rounds = accuracy_chart("Test accuracy per round", "round", sims, |s| {
        s.rounds.iter().map(|r| r.round as f64).collect()
    })?;
    let bytes = accuracy_chart(
        "Test accuracy vs communication",
        "cumulative bytes up + down (MB)",
        sims,
        |s| {
            let mut c = 0u64;
            s.rounds
                .iter()
                .map(|r| {
                    c += r.bytes_up + r.bytes_down;
                    c as f64 / 1e6
                })
                .collect()
        },
    )?;
    let mut summary = String::new();
    if let [a, b] = sims {
        if let (Some(x), Some(y)) = (a.bytes_to_target, b.bytes_to_target) {
            let _ = write!(
                summary,
                "<p>Bytes to first reach {:.0} %: {} {x}, {} {y}: {:.2}x fewer for {}.</p>",
                100.0 * a.target_accuracy,
                a.precision.to_uppercase(),
                b.precision.to_uppercase(),
                y as f64 / x as f64,
                a.precision.to_uppercase()
            );
        }
    }
    let tables: String = sims
        .iter()
        .map(|s| format!("<pre>{}</pre>\n", escape(&render_table(s, 10))))
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nnopt: federated learning with {title}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}pre{{font-size:12px;overflow-x:auto}}</style>\
         </head><body>\n<h1>Federated learning with {title}</h1>\n{summary}\n\
         <figure>{rounds}</figure>\n<figure>{bytes}</figure>\n<h2>Rounds</h2>\n{tables}</body></html>\n",
        title = escape(program),
    ))
}
