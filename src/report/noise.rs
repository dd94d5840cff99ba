//! Human-readable results of `nnopt analyze-noise`: the terminal tables and the HTML
//! report with SVG charts of accuracy and information against the flip probability,
//! the bounds, and the depth–width trade-off.

use super::escape;
use super::Series;
use crate::noise::NoiseSweep;
use nnopt_compiler::{Error, Result};
use plotters::prelude::*;
use std::fmt::Write;

/// The bounds per flip probability, the measurements when there are any, and the
/// smallest widths by depth.
pub fn render_table(s: &NoiseSweep) -> String {
    let mut out = String::new();
    let widths: Vec<String> = s.widths.iter().map(u64::to_string).collect();
    let _ = writeln!(
        out,
        "binary layers: {} (widths {}), {} classes, target error {}",
        s.widths.len(),
        widths.join(", "),
        s.classes,
        s.target_error
    );
    let measured = s.points.iter().any(|p| p.measured.is_some());
    let _ = write!(
        out,
        "{:>7} {:>8} {:>12} {:>12} {:>9}",
        "eps", "eta", "percolation", "evans-sch.", "min width"
    );
    if measured {
        let _ = write!(
            out,
            " {:>9} {:>10} {:>10} {:>10} {:>10} {:>6}",
            "accuracy", "MI plug-in", "MI M-M", "bound", "H(label)", "under"
        );
    }
    out.push('\n');
    for p in &s.points {
        let b = &p.bounds;
        let min = b.min_width.map_or_else(|| "none".into(), |n| n.to_string());
        let _ = write!(
            out,
            "{:>7} {:>8.4} {:>12.6} {:>12.4e} {:>9}",
            b.flip_prob, b.eta, b.percolation_bound, b.evans_schulman, min
        );
        if let Some(m) = &p.measured {
            let _ = write!(
                out,
                " {:>8.2}% {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>6}",
                100.0 * m.accuracy,
                m.mi_plug_in_bits,
                m.mi_miller_madow_bits,
                m.percolation_bound_bits.min(m.evans_schulman_bound_bits),
                m.label_entropy_bits,
                match (m.under_bound, m.under_bound_bias_corrected) {
                    (true, _) => "yes",
                    (false, true) => "bias",
                    (false, false) => "NO",
                }
            );
        }
        out.push('\n');
    }
    if let Some(m) = s.points.iter().find_map(|p| p.measured.as_ref()) {
        let _ = writeln!(
            out,
            "information in bits between label and predicted class, {} predictions per point ({} repeats, seed {}); bound = H(label) x min(1, percolation, evans-schulman); \"under\" checks the plug-in estimate (\"bias\": only the Miller-Madow estimate is under)",
            m.samples, s.repeats, s.seed
        );
    }
    let _ = writeln!(
        out,
        "\nminimum width of L equal noisy layers (percolation bound with Fano, {} classes, error {}):",
        s.classes, s.target_error
    );
    let _ = write!(out, "{:>7}", "eps");
    for d in s.tradeoff.first().map_or(&[][..], |t| &t.depths) {
        let _ = write!(out, " {:>8}", format!("L={d}"));
    }
    out.push('\n');
    for t in &s.tradeoff {
        let _ = write!(out, "{:>7}", t.flip_prob);
        for n in &t.min_width {
            let cell = n.map_or_else(|| "none".into(), |n| n.to_string());
            let _ = write!(out, " {cell:>8}");
        }
        out.push('\n');
    }
    out
}

/// A chart's title and axes.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_max: f64,
    y_max: f64,
    log_y: bool,
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(200, 70, 40),
    RGBColor(49, 104, 178),
    RGBColor(60, 150, 70),
    RGBColor(140, 80, 170),
    RGBColor(200, 150, 30),
    RGBColor(90, 90, 90),
];

/// A line chart with point marks (SVG).
fn chart(axes: &Axes, series: &[Series]) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the '{}' chart: {e}", axes.title));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(axes.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70);
        macro_rules! draw {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(axes.x_desc)
                    .y_desc(axes.y_desc)
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
                for s in series {
                    let colour = s.colour;
                    let style = colour.stroke_width(2);
                    let pts = s.points.iter().copied();
                    let drawn = if s.dashed {
                        chart.draw_series(DashedLineSeries::new(pts, 6, 4, style))
                    } else {
                        chart.draw_series(LineSeries::new(pts, style))
                    };
                    drawn
                        .map_err(|e| err(e.to_string()))?
                        .label(s.label.clone())
                        .legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                        });
                    if !s.dashed {
                        chart
                            .draw_series(
                                s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())),
                            )
                            .map_err(|e| err(e.to_string()))?;
                    }
                }
                super::draw_legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(err)?;
            }};
        }
        if axes.log_y {
            draw!(builder
                .build_cartesian_2d(0f64..axes.x_max, (1f64..axes.y_max).log_scale())
                .map_err(|e| err(e.to_string()))?);
        } else {
            draw!(builder
                .build_cartesian_2d(0f64..axes.x_max, 0f64..axes.y_max)
                .map_err(|e| err(e.to_string()))?);
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// The HTML report of `s` for model `name`.
pub fn render_html(name: &str, s: &NoiseSweep) -> Result<String> {
    let eps_max = s
        .points
        .iter()
        .map(|p| p.bounds.flip_prob)
        .fold(0.05f64, f64::max)
        * 1.05;
    let measured: Vec<_> = s
        .points
        .iter()
        .filter_map(|p| Some((p.bounds.flip_prob, p.measured.as_ref()?)))
        .collect();
    let mut figures = String::new();
    if !measured.is_empty() {
        let series = |label: &str,
                      k: usize,
                      dashed: bool,
                      f: &dyn Fn(&crate::noise::Measured) -> f64| Series {
            label: label.into(),
            colour: COLOURS[k],
            dashed,
            points: measured.iter().map(|(e, m)| (*e, f(m))).collect(),
        };
        let accuracy = chart(
            &Axes {
                title: "Test accuracy under neuron flips",
                x_desc: "flip probability",
                y_desc: "accuracy (%)",
                x_max: eps_max,
                y_max: 100.0,
                log_y: false,
            },
            &[series("accuracy", 0, false, &|m| 100.0 * m.accuracy)],
        )?;
        let h = measured[0].1.label_entropy_bits;
        let information = chart(
            &Axes {
                title: "I(label; prediction) and its bounds",
                x_desc: "flip probability",
                y_desc: "bits",
                x_max: eps_max,
                y_max: h * 1.1,
                log_y: false,
            },
            &[
                series("plug-in", 0, false, &|m| m.mi_plug_in_bits),
                series("Miller-Madow", 1, false, &|m| {
                    m.mi_miller_madow_bits.max(0.0)
                }),
                series("percolation bound", 2, true, &|m| m.percolation_bound_bits),
                series("Evans-Schulman bound", 3, true, &|m| {
                    m.evans_schulman_bound_bits
                }),
            ],
        )?;
        let _ = write!(
            figures,
            "<figure>{accuracy}</figure>\n<figure>{information}</figure>\n"
        );
    }
    let tradeoff: Vec<Series> = s
        .tradeoff
        .iter()
        .filter(|t| t.flip_prob > 0.0)
        .enumerate()
        .map(|(k, t)| Series {
            label: format!("eps = {}", t.flip_prob),
            colour: COLOURS[k % COLOURS.len()],
            dashed: false,
            points: t
                .depths
                .iter()
                .zip(&t.min_width)
                .filter_map(|(&d, n)| Some((d as f64, (*n)? as f64)))
                .collect(),
        })
        .collect();
    let n_max = tradeoff
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(10f64, f64::max);
    let depth_max = s
        .tradeoff
        .first()
        .and_then(|t| t.depths.last())
        .map_or(8.0, |&d| d as f64);
    let depth_width = chart(
        &Axes {
            title: "Depth-width trade-off: smallest width of L noisy layers",
            x_desc: "noisy layers L",
            y_desc: "minimum width (log)",
            x_max: depth_max + 0.5,
            y_max: n_max * 2.0,
            log_y: true,
        },
        &tradeoff,
    )?;
    let _ = writeln!(figures, "<figure>{depth_width}</figure>");
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nnopt: noisy binary network {title}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}pre{{font-size:12px;overflow-x:auto}}</style>\
         </head><body>\n<h1>Noisy binary network {title}</h1>\n\
         <p>Each binary neuron's output flips with probability eps (a BSC, KL contraction \
         eta = (1 - 2 eps)^2). Bounds (standard ones, not the paper's constants): \
         percolation prod_l (1 - (1 - eta)^N_l) and the Evans-Schulman path sum, each times \
         H(label); minimum width by Fano's inequality.</p>\n{figures}\
         <h2>Figures</h2>\n<pre>{table}</pre>\n</body></html>\n",
        title = escape(name),
        table = escape(&render_table(s)),
    ))
}
