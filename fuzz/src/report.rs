//! The campaign's report: per format, how the cases ended and the most heap a rejected
//! case took; every finding, and the distinct ones (same format, kind and message,
//! numbers aside); as a table or JSON.

use crate::format::Format;
use serde::Serialize;
use std::fmt::Write;
use std::path::PathBuf;

/// How a case ended, as the driver saw it.
#[derive(Clone, Debug)]
pub enum Outcome {
    Accepted,
    Rejected,
    /// A panic, caught: its message and location.
    Panic(String),
    /// The worker died: how, and its last words on stderr.
    Abort(String),
    /// No result within the timeout.
    Hang,
}

/// One format's figures.
#[derive(Serialize)]
pub struct FormatStats {
    pub format: Format,
    pub mutants: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub panics: u64,
    pub aborts: u64,
    pub hangs: u64,
    /// The most heap a rejected case added, in MB, and that case.
    pub max_rejected_peak_mb: f64,
    pub max_rejected_peak_case: Option<u64>,
    /// Worker wall time.
    pub seconds: f64,
}

/// A panic, abort or hang.
#[derive(Clone, Serialize)]
pub struct Finding {
    pub format: Format,
    /// `panic`, `abort` or `hang`.
    pub kind: &'static str,
    pub index: u64,
    /// The input: saved under `--out`, or the replayed file.
    pub file: PathBuf,
    pub message: String,
}

/// Findings alike: the first, and how many there were.
#[derive(Serialize)]
pub struct Distinct {
    pub first: Finding,
    pub count: usize,
}

/// The whole report.
#[derive(Serialize)]
pub struct Report {
    pub seed: u64,
    pub formats: Vec<FormatStats>,
    pub findings: Vec<Finding>,
    pub distinct: Vec<Distinct>,
}

impl Report {
    /// An empty report over `formats`.
    pub fn new(seed: u64, formats: &[Format]) -> Self {
        Report {
            seed,
            formats: formats
                .iter()
                .map(|&format| FormatStats {
                    format,
                    mutants: 0,
                    accepted: 0,
                    rejected: 0,
                    panics: 0,
                    aborts: 0,
                    hangs: 0,
                    max_rejected_peak_mb: 0.0,
                    max_rejected_peak_case: None,
                    seconds: 0.0,
                })
                .collect(),
            findings: Vec::new(),
            distinct: Vec::new(),
        }
    }

    fn stats(&mut self, format: Format) -> &mut FormatStats {
        self.formats
            .iter_mut()
            .find(|s| s.format == format)
            .expect("a format of the report")
    }

    /// Counts case `index`; a finding keeps `file`, its input.
    pub fn record(
        &mut self,
        format: Format,
        index: u64,
        outcome: Outcome,
        peak: usize,
        file: PathBuf,
    ) {
        let s = self.stats(format);
        s.mutants += 1;
        let (kind, message) = match outcome {
            Outcome::Accepted => {
                s.accepted += 1;
                return;
            }
            Outcome::Rejected => {
                s.rejected += 1;
                let mb = peak as f64 / 1e6;
                if s.max_rejected_peak_case.is_none() || mb > s.max_rejected_peak_mb {
                    s.max_rejected_peak_mb = mb;
                    s.max_rejected_peak_case = Some(index);
                }
                return;
            }
            Outcome::Panic(m) => {
                s.panics += 1;
                ("panic", m)
            }
            Outcome::Abort(m) => {
                s.aborts += 1;
                ("abort", m)
            }
            Outcome::Hang => {
                s.hangs += 1;
                ("hang", String::new())
            }
        };
        let finding = Finding {
            format,
            kind,
            index,
            file,
            message,
        };
        let key = group(&finding);
        match self.distinct.iter_mut().find(|d| group(&d.first) == key) {
            Some(d) => d.count += 1,
            None => self.distinct.push(Distinct {
                first: finding.clone(),
                count: 1,
            }),
        }
        self.findings.push(finding);
    }

    /// Adds worker wall time to a format.
    pub fn add_seconds(&mut self, format: Format, seconds: f64) {
        self.stats(format).seconds += seconds;
    }

    /// Whether anything panicked, aborted or hung.
    pub fn failed(&self) -> bool {
        !self.findings.is_empty()
    }

    /// The table and the distinct findings, as text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<9} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>12} {:>8}",
            "format",
            "mutants",
            "accepted",
            "rejected",
            "panics",
            "aborts",
            "hangs",
            "peak MB rej",
            "seconds"
        );
        for f in &self.formats {
            let _ = writeln!(
                s,
                "{:<9} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>12.1} {:>8.1}",
                f.format.name(),
                f.mutants,
                f.accepted,
                f.rejected,
                f.panics,
                f.aborts,
                f.hangs,
                f.max_rejected_peak_mb,
                f.seconds
            );
        }
        if !self.distinct.is_empty() {
            let _ = writeln!(s, "\ndistinct findings:");
        }
        for d in &self.distinct {
            let f = &d.first;
            let _ = writeln!(
                s,
                "  {} {} x{} (first: case {}, {}){}",
                f.format.name(),
                f.kind,
                d.count,
                f.index,
                f.file.display(),
                match f.message.is_empty() {
                    true => String::new(),
                    false => format!("\n    {}", f.message),
                }
            );
        }
        s
    }
}

/// What findings alike share: format, kind, and the message with its numbers blanked,
/// except in its location (`at file:line:column`).
fn group(f: &Finding) -> (Format, &'static str, String) {
    let (text, at) = match f.message.rfind(" at ") {
        Some(i) => f.message.split_at(i),
        None => (f.message.as_str(), ""),
    };
    let mut blanked = String::new();
    let mut digits = false;
    for c in text.chars() {
        if !c.is_ascii_digit() {
            blanked.push(c);
        } else if !digits {
            blanked.push('N');
        }
        digits = c.is_ascii_digit();
    }
    (f.format, f.kind, blanked + at)
}
