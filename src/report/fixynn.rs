//! The `nnopt fixynn --report` page: every split point's accuracy loss against its energy
//! efficiency (the Pareto front and the chosen split marked), the tasks, the PPA by
//! DeepFreeze's model and by Yosys side by side with every assumption, and the RTL check.

use super::escape;
use crate::fixynn::manifest::Manifest;
use nnopt_backends::fixed_frontend::ppa::SystemPpa;
use nnopt_compiler::{Error, Result};
use plotters::prelude::*;
use std::fmt::Write;

const POINT: RGBColor = RGBColor(150, 150, 150);
const FRONT: RGBColor = RGBColor(49, 104, 178);
const CHOSEN: RGBColor = RGBColor(200, 70, 40);

/// Mean accuracy loss (points) against the energy-efficiency ratio, one point a split.
fn chart(m: &Manifest) -> Result<String> {
    let err = |e: String| Error::new(format!("cannot draw the split chart: {e}"));
    let pts: Vec<(f64, f64, bool, bool, &str)> = m
        .split_points
        .iter()
        .map(|p| {
            (
                p.ppa.energy_efficiency_ratio,
                p.mean_loss_points,
                p.pareto,
                p.split == m.split_tensor,
                p.split.as_str(),
            )
        })
        .collect();
    let x_max = pts.iter().map(|p| p.0).fold(1.0f64, f64::max) * 1.15;
    let y_lo = pts.iter().map(|p| p.1).fold(0.0f64, f64::min) - 0.5;
    let y_hi = pts.iter().map(|p| p.1).fold(1.0f64, f64::max) + 0.5;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut c = ChartBuilder::on(&root)
            .caption(
                "Split points: accuracy loss vs energy efficiency",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.9f64..x_max, y_lo..y_hi)
            .map_err(|e| err(e.to_string()))?;
        c.configure_mesh()
            .light_line_style(WHITE)
            .x_desc("energy efficiency vs all-programmable at equal area (x)")
            .y_desc("mean accuracy loss vs full fine-tuning (points)")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (label, colour, pick) in [
            ("dominated split", POINT, 0),
            ("Pareto front (loss, energy, area)", FRONT, 1),
            ("chosen split", CHOSEN, 2),
        ] {
            let kind = |p: &(f64, f64, bool, bool, &str)| if p.3 { 2 } else { usize::from(p.2) };
            c.draw_series(
                pts.iter().filter(|p| kind(p) == pick).map(|p| {
                    Circle::new((p.0, p.1), if pick == 2 { 7 } else { 5 }, colour.filled())
                }),
            )
            .map_err(|e| err(e.to_string()))?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
        }
        for &(x, y, _, _, name) in &pts {
            c.draw_series([Text::new(short_name(name), (x, y), ("sans-serif", 12))])
                .map_err(|e| err(e.to_string()))?;
        }
        super::draw_legend(&mut c, SeriesLabelPosition::UpperLeft).map_err(err)?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// A tensor name cut to its last 24 characters, for chart labels.
fn short_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() > 24 {
        true => format!("…{}", chars[chars.len() - 23..].iter().collect::<String>()),
        false => name.to_string(),
    }
}

fn ppa_rows(label: &str, p: &SystemPpa) -> String {
    format!(
        "<tr><td>{label}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td>\
         <td>{:.2}x</td><td>{:.2}</td><td>{:.2}</td></tr>",
        p.fixed_area_mm2,
        p.fixed_joules * 1e6,
        p.backend_joules * 1e6,
        p.hybrid_joules * 1e6,
        p.all_programmable_joules * 1e6,
        p.energy_efficiency_ratio,
        p.hybrid_tops_per_w,
        p.all_programmable_tops_per_w
    )
}

/// The report page of a fixynn output.
pub fn render_html(m: &Manifest) -> Result<String> {
    let chart = chart(m)?;
    let mut splits = String::from(
        "<table><tr><th>split</th><th>layers</th><th>mean loss (pt)</th><th>max loss (pt)</th>\
         <th>front-end area (mm²)</th><th>energy ratio</th><th>Pareto</th></tr>",
    );
    for p in &m.split_points {
        let _ = write!(
            splits,
            "<tr{}><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{:.4}</td><td>{:.2}x</td><td>{}</td></tr>",
            if p.split == m.split_tensor { " style=\"font-weight:bold\"" } else { "" },
            escape(&p.split),
            p.layers,
            p.mean_loss_points,
            p.max_loss_points,
            p.ppa.fixed_area_mm2,
            p.ppa.energy_efficiency_ratio,
            if p.pareto { "yes" } else { "" }
        );
    }
    splits.push_str("</table>");
    let mut tasks = String::from(
        "<table><tr><th>task</th><th>classes</th><th>test rows</th><th>fixed + back-end</th>\
         <th>full fine-tune</th><th>loss (pt)</th><th>back-end</th></tr>",
    );
    for t in &m.tasks {
        let _ = write!(
            tasks,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2} %</td><td>{:.2} %</td><td>{:.2}</td><td>{}</td></tr>",
            escape(&t.name),
            t.classes,
            t.test_rows,
            100.0 * t.accuracy,
            100.0 * t.full_fine_tune_accuracy,
            t.loss_points,
            escape(&t.backend)
        );
    }
    tasks.push_str("</table>");
    let mut ppa = String::from(
        "<table><tr><th>front-end priced by</th><th>front-end mm²</th><th>front-end µJ</th>\
         <th>back-end µJ</th><th>hybrid µJ</th><th>all-programmable µJ</th><th>energy ratio</th>\
         <th>hybrid TOPS/W</th><th>all-prog. TOPS/W</th></tr>",
    );
    ppa += &ppa_rows("DeepFreeze constants", &m.ppa.deepfreeze);
    if let Some(y) = &m.ppa.yosys {
        ppa += &ppa_rows("Yosys transistor count", y);
    }
    ppa.push_str("</table>");
    let n = &m.ppa.npu_preset;
    let _ = write!(
        ppa,
        "<p>With the programmable side on the {} preset (nnopt's performance model, off-chip weight \
         reads included): {:.2}x{}.</p><table><tr><th>task</th><th>whole model on the NPU µJ</th>\
         <th>back-end on the NPU µJ</th><th>fixed front-end µJ</th><th>ratio</th></tr>",
        escape(&n.target),
        n.energy_efficiency_ratio,
        n.learned_energy_efficiency_ratio
            .map(|r| format!("; by the learned cost model (GraphSAGE) {r:.2}x"))
            .unwrap_or_default()
    );
    for t in &n.tasks {
        let _ = write!(
            ppa,
            "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.2}x</td></tr>",
            escape(&t.task),
            t.all_programmable_uj,
            t.backend_uj,
            t.fixed_uj,
            t.energy_efficiency_ratio
        );
    }
    ppa.push_str("</table>");
    let mut layers = String::from(
        "<table><tr><th>layer</th><th>kernel</th><th>stride</th><th>groups</th><th>in</th><th>out</th>\
         <th>non-zero weights</th><th>mm² (model)</th></tr>",
    );
    for (l, p) in m.layers.iter().zip(&m.ppa.frontend.layers) {
        let _ = write!(
            layers,
            "<tr><td>{}</td><td>{}x{}</td><td>{}x{}</td><td>{}</td><td>{:?}</td><td>{:?}</td><td>{} of {}</td><td>{:.4}</td></tr>",
            escape(&l.name),
            l.kernel[0],
            l.kernel[1],
            l.strides[0],
            l.strides[1],
            l.groups,
            l.input,
            l.output,
            l.nonzero_weights,
            l.weights,
            p.area_mm2
        );
    }
    layers.push_str("</table>");
    let synthesis = match &m.ppa.synthesis {
        Some(s) => format!(
            "<p>Yosys: {} cells, {} transistors (estimate), {:.4} mm², {:.1} s.</p>",
            s.cells, s.transistors, s.area_mm2, s.seconds
        ),
        None => "<p>Not synthesized (--no-synth).</p>".to_string(),
    };
    let verification = match &m.verification {
        Some(v) => format!(
            "<p>RTL simulated with {} on {} test images (every task's, valid and ready stalled at random): \
             {} bit-exact with the interpreter; {:.1} s simulating.</p>",
            escape(&v.simulator),
            v.images,
            v.bit_exact_images,
            v.simulation_seconds
        ),
        None => "<p>RTL not simulated (--simulator none).</p>".to_string(),
    };
    let assumptions: String = m
        .ppa
        .assumptions
        .iter()
        .map(|a| format!("<li>{}</li>", escape(a)))
        .collect();
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nnopt: FixyNN split of {title}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}\
         table{{border-collapse:collapse;font-size:13px;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}\
         td:first-child{{max-width:380px;overflow-wrap:anywhere}}p{{overflow-wrap:anywhere}}</style>\
         </head><body>\n<h1>FixyNN split of {title}</h1>\n\
         <p>Chosen split <b>{split}</b>: {reason}. Energy efficiency {ratio:.2}x the all-programmable \
         accelerator at equal area.</p>\n<figure>{chart}</figure>\n<h2>Split points</h2>\n{splits}\n\
         <h2>Tasks</h2>\n{tasks}\n<h2>Energy and area</h2>\n{ppa}\n{synthesis}\n<h3>Assumptions</h3><ul>{assumptions}</ul>\n\
         <h2>Front-end layers</h2>\n{layers}\n<h2>RTL check</h2>\n{verification}\n\
         <p>Split search {search:.1} s; RTL generation {gen:.2} s.</p>\n</body></html>\n",
        title = escape(&m.source_model),
        split = escape(&m.split_tensor),
        reason = escape(&m.chosen_reason),
        ratio = m.ppa.energy_efficiency_ratio,
        search = m.search_seconds,
        gen = m.generation_seconds,
    ))
}
