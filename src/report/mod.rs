//! Human-readable reports: terminal tables and HTML pages with SVG charts.

pub mod fixynn;
pub mod fl;
pub mod monitor;
pub mod noise;
pub mod npu;
pub mod udc;

use plotters::chart::{ChartContext, SeriesLabelPosition};
use plotters::coord::CoordTranslate;
use plotters::prelude::{Color, DrawingBackend, RGBColor, BLACK, WHITE};

/// One line of a chart: its legend label, colour, dash and points.
struct Series {
    label: String,
    colour: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// Draws the legend of `chart`'s labelled series at `position`, in the reports' style (a
/// translucent white box with a black border).
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// Escapes text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
