//! Human-readable results of `nnopt monitor`: the terminal summary and the HTML report
//! with SVG charts of the stream and its changepoints, the run length, the fidelity per
//! step and the cumulative cost.

use super::escape;
use nnopt_compiler::{Error, Result};
use nnopt_train::bocpd::monitor::Monitoring;
use plotters::prelude::*;
use serde::Serialize;
use std::fmt::Write;

/// A monitored stream with its settings and, given known changepoints, its score.
#[derive(Serialize)]
pub struct MonitorReport {
    pub stream: String,
    pub fidelity_names: Vec<String>,
    /// The observation model and its per-fidelity parameters.
    pub model: String,
    pub costs: Vec<f64>,
    /// Expected run length (hazard 1/hazard).
    pub hazard: f64,
    pub budget: Option<f64>,
    #[serde(flatten)]
    pub monitoring: Monitoring,
    pub score: Option<Score>,
}

/// Detected changepoints against known ones.
#[derive(Serialize)]
pub struct Score {
    pub truth: Vec<usize>,
    pub tolerance: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl MonitorReport {
    /// Measurements per fidelity.
    fn counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.costs.len()];
        for &j in &self.monitoring.fidelity {
            counts[j] += 1;
        }
        counts
    }

    /// The cost of measuring the costliest fidelity at every step.
    fn always_high_cost(&self) -> f64 {
        let max = self.costs.iter().copied().fold(0.0, f64::max);
        max * self.monitoring.steps as f64
    }
}

/// The summary: settings, measurements per fidelity, cost, changepoints, score.
pub fn render_table(r: &MonitorReport) -> String {
    let m = &r.monitoring;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} steps, {} fidelities; {}; hazard 1/{}; policy {}{}",
        r.stream,
        m.steps,
        r.costs.len(),
        r.model,
        r.hazard,
        m.policy,
        r.budget
            .map(|b| format!(", budget {b}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "{:<20} {:>10} {:>10}", "fidelity", "cost", "measured");
    for ((name, cost), count) in r.fidelity_names.iter().zip(&r.costs).zip(r.counts()) {
        let _ = writeln!(out, "{:<20} {cost:>10} {count:>10}", name);
    }
    let _ = writeln!(
        out,
        "total cost {} ({:.1} % of measuring the costliest at every step)",
        m.cost,
        100.0 * m.cost / r.always_high_cost()
    );
    let cps: Vec<String> = m.changepoints.iter().map(|c| c.to_string()).collect();
    let _ = writeln!(out, "changepoints ({}): {}", cps.len(), cps.join(", "));
    if let Some(s) = &r.score {
        let _ = writeln!(
            out,
            "F1 {:.3} (precision {:.3}, recall {:.3}) within ±{} steps of {} known changepoints",
            s.f1,
            s.precision,
            s.recall,
            s.tolerance,
            s.truth.len()
        );
    }
    out
}

/// Colours of fidelity 0, 1, …
const COLOURS: [RGBColor; 4] = [
    RGBColor(49, 104, 178),
    RGBColor(200, 70, 40),
    RGBColor(60, 150, 60),
    RGBColor(140, 80, 160),
];

/// Points with their colour and legend label.
type Labelled = (Vec<(f64, f64)>, RGBColor, String);

/// What one chart draws over the steps.
struct Chart<'a> {
    title: &'a str,
    y_desc: &'a str,
    y_range: (f64, f64),
    /// Lines: points, colour, legend label.
    lines: Vec<Labelled>,
    /// Dots: points, colour, legend label.
    dots: Vec<Labelled>,
    /// Vertical lines at steps: steps, colour, dashed, legend label.
    verticals: Vec<(Vec<usize>, RGBColor, bool, String)>,
}

/// An SVG chart of `c` over steps 0..steps.
fn draw(c: &Chart, steps: usize) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the '{}' chart: {e}", c.title));
    let x_max = steps.max(1) as f64;
    let (y0, y1) = c.y_range;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, y0..y1)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc(c.y_desc)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (steps, colour, dashed, label) in &c.verticals {
            let colour = *colour;
            let style = colour.stroke_width(1);
            let mut last = None;
            for &s in steps {
                let line = [(s as f64, y0), (s as f64, y1)];
                last = Some(match dashed {
                    true => chart.draw_series(DashedLineSeries::new(line, 5, 4, style)),
                    false => chart.draw_series(LineSeries::new(line, style)),
                });
            }
            if let Some(drawn) = last {
                drawn
                    .map_err(|e| err(e.to_string()))?
                    .label(label.clone())
                    .legend(move |(x, y)| PathElement::new([(x, y - 6), (x, y + 6)], colour));
            }
        }
        for (points, colour, label) in &c.dots {
            let colour = *colour;
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 2, colour.filled())))
                .map_err(|e| err(e.to_string()))?
                .label(label.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 3, colour.filled()));
        }
        for (points, colour, label) in &c.lines {
            let colour = *colour;
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| err(e.to_string()))?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
        super::draw_legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// The run-length posterior as an SVG heat map (cells below 10⁻⁴ left white, the rest
/// shaded by log₁₀ probability), with the MAP run length over it.
fn heat_map(m: &Monitoring) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the run-length heat map: {e}"));
    let h = &m.heat_map;
    let x_max = m.steps.max(1) as f64;
    let top = m.map_run_length.iter().copied().max().unwrap_or(1).max(1);
    let y_max = ((top * 5 / 4).div_ceil(h.runs_per_cell) * h.runs_per_cell).max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Run-length posterior (darker: more probable)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("step")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("run length")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        let (sx, sr) = (h.steps_per_cell as f64, h.runs_per_cell as f64);
        let cells = h.cells.iter().enumerate().flat_map(|(c, column)| {
            column.iter().enumerate().filter_map(move |(k, &p)| {
                let y0 = k as f64 * sr;
                (p >= 1e-4 && y0 < y_max).then(|| {
                    // −4 (white) … 0 (dark blue) in log10 probability.
                    let shade = ((p.log10() + 4.0) / 4.0).clamp(0.0, 1.0);
                    let mix = |full: f64| (255.0 - shade * (255.0 - full)) as u8;
                    let colour = RGBColor(mix(20.0), mix(60.0), mix(140.0));
                    Rectangle::new(
                        [(c as f64 * sx, y0), ((c + 1) as f64 * sx, y0 + sr)],
                        colour.filled(),
                    )
                })
            })
        });
        chart.draw_series(cells).map_err(|e| err(e.to_string()))?;
        let map = m
            .map_run_length
            .iter()
            .enumerate()
            .map(|(t, &v)| (t as f64, v as f64));
        chart
            .draw_series(LineSeries::new(map, RGBColor(220, 30, 30).stroke_width(1)))
            .map_err(|e| err(e.to_string()))?
            .label("MAP run length")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RGBColor(220, 30, 30)));
        super::draw_legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// The HTML report: the summary and four charts (the measured values coloured by
/// fidelity with detected and known changepoints, the run-length posterior with the MAP
/// run length, the fidelity per step, the cumulative cost). `columns` holds each fidelity's values.
pub fn render_html(r: &MonitorReport, columns: &[Vec<f64>]) -> Result<String> {
    let m = &r.monitoring;
    let measured: Vec<f64> = m
        .fidelity
        .iter()
        .enumerate()
        .map(|(t, &j)| columns[j][t])
        .collect();
    let (lo, hi) = measured
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let mut dots = Vec::new();
    for (j, name) in r.fidelity_names.iter().enumerate() {
        let points: Vec<(f64, f64)> = (0..m.steps)
            .filter(|&t| m.fidelity[t] == j)
            .map(|t| (t as f64, measured[t]))
            .collect();
        dots.push((points, COLOURS[j % COLOURS.len()], name.clone()));
    }
    let mut verticals = vec![(
        m.changepoints.clone(),
        RGBColor(220, 30, 30),
        false,
        "detected".to_string(),
    )];
    if let Some(s) = &r.score {
        verticals.push((
            s.truth.clone(),
            RGBColor(90, 90, 90),
            true,
            "known".to_string(),
        ));
    }
    let stream = draw(
        &Chart {
            title: "Measured values and changepoints",
            y_desc: "value",
            y_range: (lo - pad, hi + pad),
            lines: Vec::new(),
            dots,
            verticals,
        },
        m.steps,
    )?;
    let run = heat_map(m)?;
    let fidelity = draw(
        &Chart {
            title: "Fidelity measured per step",
            y_desc: "fidelity (0 = cheapest column)",
            y_range: (-0.5, r.costs.len() as f64 - 0.5),
            lines: Vec::new(),
            dots: vec![(
                m.fidelity
                    .iter()
                    .enumerate()
                    .map(|(t, &j)| (t as f64, j as f64))
                    .collect(),
                COLOURS[1],
                m.policy.to_string(),
            )],
            verticals: Vec::new(),
        },
        m.steps,
    )?;
    let mut spent = 0.0;
    let cumulative: Vec<(f64, f64)> = m
        .fidelity
        .iter()
        .enumerate()
        .map(|(t, &j)| {
            spent += r.costs[j];
            (t as f64, spent)
        })
        .collect();
    let high = r.always_high_cost();
    let per_step = high / m.steps.max(1) as f64;
    let cost = draw(
        &Chart {
            title: "Cumulative measurement cost",
            y_desc: "cost",
            y_range: (0.0, high * 1.02),
            lines: vec![
                (cumulative, COLOURS[0], m.policy.to_string()),
                (
                    (0..m.steps)
                        .map(|t| (t as f64, per_step * (t + 1) as f64))
                        .collect(),
                    RGBColor(120, 120, 120),
                    "always the costliest".to_string(),
                ),
            ],
            dots: Vec::new(),
            verticals: Vec::new(),
        },
        m.steps,
    )?;
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nnopt: changepoints in {title}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}pre{{font-size:12px;overflow-x:auto}}</style>\
         </head><body>\n<h1>Changepoints in {title}</h1>\n<pre>{table}</pre>\n\
         <figure>{stream}</figure>\n<figure>{run}</figure>\n<figure>{fidelity}</figure>\n<figure>{cost}</figure>\n\
         </body></html>\n",
        title = escape(&r.stream),
        table = escape(&render_table(r)),
    ))
}
