//! Human-readable reports: terminal tables and HTML pages with SVG charts.

pub mod fl;
pub mod npu;
