//! Small SVG bar charts written by hand, so that every bar can carry a hover title (the
//! layer's name and figures), which a plotting library's backend does not emit.

use super::super::escape;
use std::fmt::Write;

/// One bar.
pub struct Bar {
    pub value: f64,
    pub color: &'static str,
    /// Shown on hover.
    pub title: String,
}

/// A horizontal reference line (a limit such as the SRAM size).
pub struct Rule {
    pub value: f64,
    pub color: &'static str,
    pub label: String,
}

const WIDTH: f64 = 1040.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 44.0;

/// A bar chart of one value per layer, with `legend` entries (colour, meaning) and
/// reference `rules`; `y_label` names the unit.
pub fn bar_chart(
    title: &str,
    y_label: &str,
    bars: &[Bar],
    rules: &[Rule],
    legend: &[(&str, &str)],
) -> String {
    let top = bars
        .iter()
        .map(|b| b.value)
        .chain(rules.iter().map(|r| r.value))
        .fold(0.0f64, f64::max);
    let (step, ticks) = nice_ticks(top);
    let y_max = step * ticks as f64;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + plot_h * (1.0 - v / y_max);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\
         <title>{}</title><rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"16\">{}</text>",
        escape(title),
        escape(title)
    );
    for k in 0..=ticks {
        let v = step * k as f64;
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            format_tick(v)
        );
    }
    let _ = write!(
        s,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">layer # (hover a bar for its name)</text>",
        TOP + plot_h / 2.0,
        escape(y_label),
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0
    );
    let slot = plot_w / bars.len().max(1) as f64;
    let label_every = bars.len().div_ceil(30).max(1);
    for (i, b) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let h = (plot_h * b.value / y_max).max(if b.value > 0.0 { 1.0 } else { 0.0 });
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
             <title>{}</title></rect>",
            x + slot * 0.1,
            TOP + plot_h - h,
            (slot * 0.8).max(0.5),
            b.color,
            escape(&b.title)
        );
        if i % label_every == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{i}</text>",
                x + slot / 2.0,
                TOP + plot_h + 16.0
            );
        }
    }
    // Labels alternate between the right and the left end, so close lines stay legible.
    for (k, r) in rules.iter().enumerate() {
        let (x, anchor) = if k % 2 == 0 {
            (WIDTH - RIGHT - 4.0, "end")
        } else {
            (LEFT + 4.0, "start")
        };
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" \
             stroke-dasharray=\"6 4\" stroke-width=\"1.5\"><title>{}</title></line>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" fill=\"{}\">{}</text>",
            WIDTH - RIGHT,
            y(r.value),
            y(r.value),
            r.color,
            escape(&r.label),
            y(r.value) - 4.0,
            r.color,
            escape(&r.label)
        );
    }
    let mut x = WIDTH - RIGHT;
    for (color, meaning) in legend.iter().rev() {
        x -= 14.0 + 7.0 * meaning.len() as f64;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"12\" width=\"10\" height=\"10\" fill=\"{color}\"/>\
             <text x=\"{:.1}\" y=\"21\">{}</text>",
            x + 13.0,
            escape(meaning)
        );
    }
    s + "</svg>"
}

/// A tick step of 1, 2 or 5 times a power of ten, and the number of steps that reach
/// `top` (4 to 10 of them).
fn nice_ticks(top: f64) -> (f64, usize) {
    if !(top > 0.0 && top.is_finite()) {
        return (1.0, 1);
    }
    let raw = top / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power);
    (step, (top / step).ceil().max(1.0) as usize)
}

/// A tick label: integers with thousands separated, else two decimals.
fn format_tick(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let digits = format!("{}", v as i64);
        let mut out = String::new();
        for (k, ch) in digits.chars().enumerate() {
            if k > 0 && (digits.len() - k) % 3 == 0 && ch != '-' {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_top() {
        assert_eq!(nice_ticks(100.0), (20.0, 5));
        assert_eq!(nice_ticks(7.0), (2.0, 4));
        assert_eq!(nice_ticks(0.0), (1.0, 1));
        let (step, n) = nice_ticks(123_456.0);
        assert!(step * n as f64 >= 123_456.0 && n <= 10);
        assert_eq!(format_tick(1_250_000.0), "1,250,000");
        assert_eq!(format_tick(0.5), "0.50");
    }

    #[test]
    fn bars_carry_escaped_titles() {
        let bars = [Bar {
            value: 3.0,
            color: "#333",
            title: "conv <1>".into(),
        }];
        let svg = bar_chart("t", "cycles", &bars, &[], &[("#333", "npu")]);
        assert!(svg.contains("<title>conv &lt;1&gt;</title>"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
