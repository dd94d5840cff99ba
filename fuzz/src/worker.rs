//! The worker: a subprocess (the same binary, `nnopt-fuzz worker`) that runs cases one
//! after another under the memory cap, and tells the driver on stdout which case it is
//! about to run and how each ended. Panics are caught; an abort or a hang ends the
//! process, and the driver knows the case from the last line it read.

use crate::format::Format;
use crate::targets::{Targets, Verdict};
use crate::{alloc, backtrace, mutate};
use std::backtrace::Backtrace;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

/// Marks the worker's lines among anything nnopt itself prints on stdout.
const TAG: &str = "@nnopt-fuzz";

/// What the worker runs.
pub struct Job {
    pub format: Format,
    /// The campaign seed.
    pub seed: u64,
    /// Cases `start..end`.
    pub start: u64,
    pub end: u64,
    pub memory_cap: usize,
    /// Case `i` is seed file `i` itself, not a mutant.
    pub replay: bool,
    pub seeds: Vec<PathBuf>,
    /// Where the worker's private directory goes (the driver removes it, also after
    /// the worker aborted).
    pub tmp: PathBuf,
}

/// How a case ended, as far as the worker lives to say.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    Accepted,
    Rejected,
    /// The panic's message (its lines joined by ` | `) and location.
    Panic(String),
}

/// A line of the worker's report.
#[derive(Debug, PartialEq)]
pub enum Line {
    /// Case `index` starts.
    Start(u64),
    /// Case `index` ended, having added at most `peak` bytes to the live heap.
    Done {
        index: u64,
        ended: Ended,
        peak: usize,
    },
}

impl Line {
    /// The line as the worker prints it.
    fn render(&self) -> String {
        match self {
            Line::Start(i) => format!("{TAG} start {i}"),
            Line::Done { index, ended, peak } => {
                let (what, message) = match ended {
                    Ended::Accepted => ("accepted", ""),
                    Ended::Rejected => ("rejected", ""),
                    Ended::Panic(m) => ("panic", m.as_str()),
                };
                let message = message.lines().collect::<Vec<_>>().join(" | ");
                format!("{TAG} done {index} {peak} {what} {message}")
            }
        }
    }

    /// Reads a worker line; `None` for anything else on the worker's stdout.
    pub fn parse(line: &str) -> Option<Line> {
        let rest = &line[line.find(TAG)? + TAG.len()..];
        let mut words = rest.trim_start().splitn(5, ' ');
        match words.next()? {
            "start" => Some(Line::Start(words.next()?.trim_end().parse().ok()?)),
            "done" => {
                let index = words.next()?.parse().ok()?;
                let peak = words.next()?.parse().ok()?;
                let ended = match words.next()?.trim_end() {
                    "accepted" => Ended::Accepted,
                    "rejected" => Ended::Rejected,
                    "panic" => Ended::Panic(words.next().unwrap_or_default().trim_end().into()),
                    _ => return None,
                };
                Some(Line::Done { index, ended, peak })
            }
            _ => None,
        }
    }
}

/// The message of the last panic, recorded by the hook instead of printed.
static PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Runs the job's cases, reporting on stdout.
pub fn run(job: &Job) -> std::io::Result<()> {
    let seeds = job
        .seeds
        .iter()
        .map(std::fs::read)
        .collect::<std::io::Result<Vec<_>>>()?;
    let targets = Targets::new(job.memory_cap, &job.tmp)?;
    std::panic::set_hook(Box::new(|info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(s) => s.to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default(),
        };
        // A panic inside the standard library (an overflowing `sum`, say) is placed by
        // its caller.
        let at = match info.location() {
            Some(l) if !l.file().starts_with("/rustc/") => Some(l.to_string()),
            _ => {
                let trace = Backtrace::force_capture().to_string();
                backtrace::site(&trace, file!(), module_path!())
            }
        };
        let at = at.map(|at| format!(" at {at}")).unwrap_or_default();
        *PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{message}{at}"));
    }));
    alloc::set_cap(job.memory_cap);
    let mut out = std::io::stdout().lock();
    for index in job.start..job.end {
        writeln!(out, "{}", Line::Start(index).render())?;
        out.flush()?;
        let input = match job.replay {
            true => seeds[index as usize].clone(),
            false => mutate::mutant(job.format, &seeds, job.seed, index),
        };
        let base = alloc::reset_peak();
        let result = catch_unwind(AssertUnwindSafe(|| targets.run(job.format, &input)));
        let peak = alloc::peak().saturating_sub(base);
        let ended = match result {
            Ok(Verdict::Accepted) => Ended::Accepted,
            Ok(Verdict::Rejected) => Ended::Rejected,
            Err(_) => Ended::Panic(
                PANIC
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .unwrap_or_default(),
            ),
        };
        writeln!(out, "{}", Line::Done { index, ended, peak }.render())?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back() {
        let lines = [
            Line::Start(12),
            Line::Done {
                index: 3,
                ended: Ended::Panic("index out of bounds: 'x' at a.rs:1:2".into()),
                peak: 4096,
            },
            Line::Done {
                index: 4,
                ended: Ended::Rejected,
                peak: 0,
            },
        ];
        for line in lines {
            let text = format!("noise {}", line.render());
            assert_eq!(Line::parse(&text), Some(line));
        }
    }
}
