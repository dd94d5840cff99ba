//! Human-readable reports: terminal tables and HTML pages with SVG charts.

pub mod fixynn;
pub mod fl;
pub mod monitor;
pub mod noise;
pub mod npu;
pub mod udc;

/// Escapes text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
