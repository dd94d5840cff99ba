//! The `nnopt compress --report` page: accuracy against encoded bytes (the plans the
//! search measured, their Pareto front, the result and the baselines, the budget), and
//! each layer's bits, sparsity and bytes.

use super::escape;
use crate::compress::CompressReport;
use nnopt_compiler::{Error, Result};
use plotters::prelude::*;
use std::fmt::Write;

const SEARCH: RGBColor = RGBColor(150, 150, 150);
const FRONT: RGBColor = RGBColor(49, 104, 178);
const RESULT: RGBColor = RGBColor(200, 70, 40);
const BASELINES: [RGBColor; 4] = [
    RGBColor(40, 40, 40),
    RGBColor(60, 150, 80),
    RGBColor(150, 90, 190),
    RGBColor(220, 150, 30),
];

/// The points (bytes, accuracy %) that no other point beats on both, by bytes.
fn pareto_front(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    let mut front: Vec<(f64, f64)> = Vec::new();
    for p in sorted {
        if front.last().is_none_or(|l| p.1 > l.1) {
            front.push(p);
        }
    }
    front
}

/// Accuracy (%) against bytes: the search's plans (held-out rows), their front, and the
/// models measured on the test rows.
fn chart(r: &CompressReport) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the accuracy-vs-bytes chart: {e}"));
    let explored: Vec<(f64, f64)> = r
        .explored
        .iter()
        .map(|p| (p.bytes as f64, 100.0 * p.accuracy))
        .collect();
    let tested: Vec<(String, f64, f64)> = [&r.before, &r.after]
        .into_iter()
        .chain(&r.baselines)
        .map(|m| (m.name.clone(), m.bytes as f64, 100.0 * m.accuracy))
        .collect();
    let all_x = explored
        .iter()
        .map(|p| p.0)
        .chain(tested.iter().map(|t| t.1));
    let x_max = all_x.fold(r.budget as f64, f64::max) * 1.05;
    let all_y = explored
        .iter()
        .map(|p| p.1)
        .chain(tested.iter().map(|t| t.2));
    let y_min = all_y.fold(100.0f64, f64::min);
    let y_min = (y_min - 2.0).clamp(0.0, 95.0).floor();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut c = ChartBuilder::on(&root)
            .caption("Accuracy vs encoded weight bytes", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, y_min..100.5)
            .map_err(|e| err(e.to_string()))?;
        c.configure_mesh()
            .light_line_style(WHITE)
            .x_desc("encoded weight bytes")
            .y_desc("top-1 accuracy (%)")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        let grey = RGBColor(120, 120, 120);
        c.draw_series(DashedLineSeries::new(
            [(r.budget as f64, y_min), (r.budget as f64, 100.5)],
            8,
            6,
            grey.stroke_width(1),
        ))
        .map_err(|e| err(e.to_string()))?
        .label(format!("budget {} bytes", r.budget))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], grey));
        c.draw_series(explored.iter().map(|&p| Circle::new(p, 3, SEARCH.filled())))
            .map_err(|e| err(e.to_string()))?
            .label("plans measured by the search (held-out rows)")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, SEARCH.filled()));
        c.draw_series(LineSeries::new(
            pareto_front(&explored),
            FRONT.stroke_width(2),
        ))
        .map_err(|e| err(e.to_string()))?
        .label("their Pareto front")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], FRONT.stroke_width(2)));
        for (k, (name, x, y)) in tested.iter().enumerate() {
            let colour = match k {
                1 => RESULT,
                0 => BASELINES[0],
                _ => BASELINES[(k - 1) % BASELINES.len()],
            };
            c.draw_series([TriangleMarker::new((*x, *y), 8, colour.filled())])
                .map_err(|e| err(e.to_string()))?
                .label(format!("{name} (test rows)"))
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, colour.filled()));
        }
        super::draw_legend(&mut c, SeriesLabelPosition::LowerRight).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// The report page of a compression of model `name`.
pub fn render_html(name: &str, r: &CompressReport) -> Result<String> {
    let chart = chart(r)?;
    let mut models = String::from(
        "<table><tr><th>model</th><th>encoded bytes</th><th>vs dense int8</th><th>test accuracy</th></tr>",
    );
    for m in [&r.before, &r.after].into_iter().chain(&r.baselines) {
        let _ = write!(
            models,
            "<tr><td>{}</td><td>{}</td><td>{:.2}x</td><td>{:.2} %</td></tr>",
            escape(&m.name),
            m.bytes,
            r.before.bytes as f64 / m.bytes.max(1) as f64,
            100.0 * m.accuracy
        );
    }
    models.push_str("</table>");
    for u in &r.unreachable_baselines {
        let _ = write!(
            models,
            "<p>{} cannot meet the budget: {}</p>",
            escape(&u.name),
            escape(&u.reason)
        );
    }
    let mut layers = String::from(
        "<table><tr><th>layer</th><th>bits</th><th>sparsity</th><th>weights</th><th>block bytes</th></tr>",
    );
    for l in &r.layers {
        let _ = write!(
            layers,
            "<tr><td>{}</td><td>{}</td><td>{:.1} %</td><td>{}</td><td>{}</td></tr>",
            escape(&l.layer),
            l.bits,
            100.0 * l.sparsity,
            l.weights,
            l.bytes
        );
    }
    layers.push_str("</table>");
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nnopt: compression of {title}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}\
         table{{border-collapse:collapse;font-size:13px;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}\
         td:first-child{{max-width:560px;overflow-wrap:anywhere}}</style>\
         </head><body>\n<h1>Compression of {title}</h1>\n\
         <p>Budget {budget} encoded weight bytes. Float accuracy after the warm-up {float:.2} % on {rows} test rows. \
         Search wall time {search:.1} s, {total:.1} s in all.</p>\n{models}\n<figure>{chart}</figure>\n\
         <h2>Layers</h2>\n{layers}\n</body></html>\n",
        title = escape(name),
        budget = r.budget,
        float = 100.0 * r.float_accuracy,
        rows = r.test_rows,
        search = r.search_seconds,
        total = r.total_seconds,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_keeps_points_nothing_beats() {
        let pts = [
            (10.0, 80.0),
            (5.0, 85.0),
            (20.0, 90.0),
            (15.0, 84.0),
            (5.0, 70.0),
        ];
        assert_eq!(pareto_front(&pts), vec![(5.0, 85.0), (20.0, 90.0)]);
        assert!(pareto_front(&[]).is_empty());
    }
}
