//! Human-readable results of `nnopt fl simulate`: the terminal summary and the HTML
//! report with SVG accuracy and loss curves and the run's hyper-parameters.

use super::escape;
use super::Series;
use nnopt_compiler::{Error, Result};
use nnopt_train::fl::simulate::Simulation;
use nnopt_train::server::ServerOptimizer;
use plotters::prelude::*;
use std::fmt::Write;

/// Per-round table (every `every`-th round and the last) and totals.
pub fn render_table(s: &Simulation, every: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}{}, {} clients ({}), {} local epoch(s), seed {}: test accuracy {:.2} % -> {:.2} %",
        s.precision,
        server_name(s),
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
        "clients: {}, batch {}; server: {}",
        s.client_optimizer.describe(),
        s.batch,
        s.server_optimizer.describe()
    );
    let _ = writeln!(
        out,
        "{:>6} {:>9} {:>11} {:>10} {:>13} {:>13}",
        "round", "accuracy", "train loss", "test loss", "bytes up", "bytes down"
    );
    let last = s.rounds.len();
    for r in s
        .rounds
        .iter()
        .filter(|r| r.round % every.max(1) == 0 || r.round == last || r.round == 1)
    {
        let _ = writeln!(
            out,
            "{:>6} {:>8.2}% {:>11.4} {:>10.4} {:>13} {:>13}",
            r.round,
            100.0 * r.accuracy,
            r.train_loss,
            r.test_loss,
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
    if let Some(p) = &s.participation {
        let taking: usize = p.participants.iter().sum();
        let _ = writeln!(
            out,
            "participation {}{}: {:.1} of {} clients per round on average, {} detected changes, {} rows read for the statistic",
            p.participation.name(),
            if p.drift.is_empty() { String::new() } else { format!(", drift at rounds {:?}", p.drift) },
            taking as f64 / p.participants.len().max(1) as f64,
            s.clients,
            p.detections.iter().map(Vec::len).sum::<usize>(),
            p.statistic_rows
        );
    }
    for w in &s.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

/// `FedAvg`, `FedAvgM` or `FedAdam`.
fn server_name(s: &Simulation) -> &'static str {
    match s.server_optimizer {
        ServerOptimizer::FedAvg => "FedAvg",
        ServerOptimizer::FedAvgM { .. } => "FedAvgM",
        ServerOptimizer::FedAdam { .. } => "FedAdam",
    }
}

/// Series colours: FP8, then FP32.
const COLOURS: [RGBColor; 2] = [RGBColor(200, 70, 40), RGBColor(49, 104, 178)];

/// A chart's axes and its optional horizontal reference line.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    y_max: f64,
    /// Label the x axis with whole numbers (rounds).
    integer_x: bool,
    /// A dashed grey line at this height, with its legend label.
    reference: Option<(f64, String)>,
}

/// A line chart (SVG) of `series`.
fn line_chart(axes: &Axes, series: &[Series]) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the '{}' chart: {e}", axes.title));
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(axes.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max * 1.02, 0f64..axes.y_max)
            .map_err(|e| err(e.to_string()))?;
        let whole = |v: &f64| format!("{v:.0}");
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(axes.x_desc).y_desc(axes.y_desc);
        if axes.integer_x {
            // Ticks at whole rounds only: at most about 10 labels.
            mesh.x_labels((x_max as usize).clamp(1, 10) + 1)
                .x_label_formatter(&whole);
        }
        mesh.draw().map_err(|e| err(e.to_string()))?;
        for s in series {
            let style = s.colour.stroke_width(2);
            // A dashed series' legend mark is a short dash.
            let (colour, len) = (s.colour, if s.dashed { 8 } else { 20 });
            let drawn = match s.dashed {
                true => {
                    chart.draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 4, style))
                }
                false => chart.draw_series(LineSeries::new(s.points.iter().copied(), style)),
            };
            drawn
                .map_err(|e| err(e.to_string()))?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + len, y)], colour.stroke_width(2))
                });
        }
        if let Some((y, label)) = &axes.reference {
            let grey = RGBColor(120, 120, 120);
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, *y), (x_max * 1.02, *y)],
                    8,
                    6,
                    grey.stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], grey));
        }
        super::draw_legend(&mut chart, SeriesLabelPosition::LowerRight).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Test accuracy (%) of each simulation against `x` of its rounds.
fn accuracy_series(sims: &[&Simulation], x: impl Fn(&Simulation) -> Vec<f64>) -> Vec<Series> {
    sims.iter()
        .enumerate()
        .map(|(k, s)| Series {
            label: s.precision.to_uppercase(),
            colour: COLOURS[k % COLOURS.len()],
            dashed: false,
            points: x(s)
                .into_iter()
                .zip(&s.rounds)
                .map(|(x, r)| (x, 100.0 * r.accuracy))
                .collect(),
        })
        .collect()
}

/// The rounds of a simulation as chart x values.
fn round_numbers(s: &Simulation) -> Vec<f64> {
    s.rounds.iter().map(|r| r.round as f64).collect()
}

/// Training (solid) and test (dashed) loss per round of each simulation.
fn loss_series(sims: &[&Simulation]) -> Vec<Series> {
    let mut out = Vec::new();
    for (k, s) in sims.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let name = s.precision.to_uppercase();
        let per_round = |f: fn(&nnopt_train::fl::simulate::RoundRecord) -> f64| {
            s.rounds.iter().map(|r| (r.round as f64, f(r))).collect()
        };
        out.push(Series {
            label: format!("{name} train"),
            colour,
            dashed: false,
            points: per_round(|r| r.train_loss),
        });
        out.push(Series {
            label: format!("{name} test"),
            colour,
            dashed: true,
            points: per_round(|r| r.test_loss),
        });
    }
    out
}

/// The hyper-parameters of the runs, one row each.
fn hyper_parameters(sims: &[&Simulation]) -> String {
    let mut rows = String::new();
    for s in sims {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            s.precision.to_uppercase(),
            escape(&s.client_optimizer.describe()),
            s.batch,
            escape(&s.server_optimizer.describe()),
            s.clients,
            escape(&s.partition),
            s.local_epochs,
            s.rounds.len(),
            s.seed
        );
    }
    format!(
        "<table><tr><th>run</th><th>client optimizer</th><th>batch</th><th>server</th>\
         <th>clients</th><th>partition</th><th>local epochs</th><th>rounds</th><th>seed</th></tr>\
         {rows}</table>"
    )
}

/// The HTML report: the hyper-parameters, test accuracy against rounds and against
/// cumulative bytes (up + down) with the target accuracy, training and test loss per
/// round, for each simulation side by side, and their tables.
pub fn render_html(program: &str, sims: &[&Simulation]) -> Result<String> {
    let target = sims.first().map(|s| s.target_accuracy).unwrap_or(0.9);
    let reference = Some((100.0 * target, format!("target {:.0} %", 100.0 * target)));
    let rounds = line_chart(
        &Axes {
            title: "Test accuracy per round",
            x_desc: "round",
            y_desc: "test accuracy (%)",
            y_max: 100.0,
            integer_x: true,
            reference: reference.clone(),
        },
        &accuracy_series(sims, round_numbers),
    )?;
    let bytes = line_chart(
        &Axes {
            title: "Test accuracy vs communication",
            x_desc: "cumulative bytes up + down (MB)",
            y_desc: "test accuracy (%)",
            y_max: 100.0,
            integer_x: false,
            reference,
        },
        &accuracy_series(sims, |s| {
            let mut c = 0u64;
            s.rounds
                .iter()
                .map(|r| {
                    c += r.bytes_up + r.bytes_down;
                    c as f64 / 1e6
                })
                .collect()
        }),
    )?;
    let losses = loss_series(sims);
    let loss_max = losses
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.1f64, f64::max);
    let loss = line_chart(
        &Axes {
            title: "Loss per round (solid: training, dashed: test)",
            x_desc: "round",
            y_desc: "cross-entropy",
            y_max: loss_max * 1.05,
            integer_x: true,
            reference: None,
        },
        &losses,
    )?;
    let mut summary = hyper_parameters(sims);
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
    for s in sims {
        for w in &s.warnings {
            let _ = write!(
                summary,
                "<p class=\"warning\">{}: {}</p>",
                s.precision.to_uppercase(),
                escape(w)
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
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}pre{{font-size:12px;overflow-x:auto}}\
         table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}\
         .warning{{color:#a33;font-weight:bold}}</style>\
         </head><body>\n<h1>Federated learning with {title}</h1>\n{summary}\n\
         <figure>{rounds}</figure>\n<figure>{bytes}</figure>\n<figure>{loss}</figure>\n\
         <h2>Rounds</h2>\n{tables}</body></html>\n",
        title = escape(program),
    ))
}
