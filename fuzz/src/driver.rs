//! The driver: splits the cases into ranges, runs each range in a worker subprocess
//! (`jobs` at a time), and watches it. A worker that dies leaves its current case as an
//! `abort`; one silent past the timeout is killed and its case is a `hang`. Either way
//! the input is saved and a new worker goes on from the next case.

use crate::format::Format;
use crate::report::{Outcome, Report};
use crate::worker::{Ended, Line};
use crate::{alloc, mutate};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, IsTerminal};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Cases per worker range.
const RANGE: u64 = 1000;
/// Lines of a worker's stderr kept to explain its death.
const STDERR_LINES: usize = 20;

/// The cases of one format.
pub struct Plan {
    pub format: Format,
    /// Seed files, in the order mutants pick them.
    pub seeds: Vec<PathBuf>,
    /// Mutants, or with [`Settings::replay`] the seed files themselves.
    pub cases: u64,
}

/// How the cases run.
pub struct Settings {
    pub seed: u64,
    pub timeout: Duration,
    pub memory_cap: usize,
    pub jobs: usize,
    /// Run the seed files as they are (a regression corpus).
    pub replay: bool,
    /// Where mutants that failed are saved (`<out>/<format>/<kind>-<index>.<ext>`).
    pub out: PathBuf,
}

/// One worker's range.
struct Range {
    plan: usize,
    start: u64,
    end: u64,
}

/// What a range's watcher tells the driver.
enum Event {
    Case {
        plan: usize,
        index: u64,
        outcome: Outcome,
        peak: usize,
    },
    RangeDone {
        plan: usize,
        seconds: f64,
    },
}

/// Runs every plan's cases and reports them.
pub fn run(plans: &[Plan], s: &Settings) -> Result<Report, String> {
    let formats: Vec<Format> = plans.iter().map(|p| p.format).collect();
    let mut report = Report::new(s.seed, &formats);
    let seeds = plans
        .iter()
        .map(|p| {
            p.seeds
                .iter()
                .map(std::fs::read)
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read a seed: {e}"))?;
    let queue: VecDeque<Range> = plans
        .iter()
        .enumerate()
        .flat_map(|(plan, p)| {
            (0..p.cases)
                .step_by(RANGE as usize)
                .map(move |start| Range {
                    plan,
                    start,
                    end: p.cases.min(start + RANGE),
                })
        })
        .collect();
    let queue = Mutex::new(queue);
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let bar = progress(plans.iter().map(|p| p.cases).sum());
    let (tx, rx) = mpsc::channel();
    thread::scope(|scope| {
        let watchers: Vec<_> = (0..s.jobs.max(1))
            .map(|_| {
                let tx = tx.clone();
                let (queue, exe, tmp) = (&queue, &exe, tmp.path());
                scope.spawn(move || -> Result<(), String> {
                    while let Some(range) = queue.lock().expect("queue").pop_front() {
                        let started = Instant::now();
                        watch(exe, tmp, &plans[range.plan], &range, s, &tx)?;
                        let seconds = started.elapsed().as_secs_f64();
                        let _ = tx.send(Event::RangeDone {
                            plan: range.plan,
                            seconds,
                        });
                    }
                    Ok(())
                })
            })
            .collect();
        drop(tx);
        for event in rx {
            match event {
                Event::Case {
                    plan,
                    index,
                    outcome,
                    peak,
                } => {
                    let p = &plans[plan];
                    let file = match (&outcome, s.replay) {
                        (Outcome::Accepted | Outcome::Rejected, _) => PathBuf::new(),
                        (_, true) => p.seeds[index as usize].clone(),
                        (_, false) => save(p.format, &seeds[plan], index, &outcome, s)?,
                    };
                    report.record(p.format, index, outcome, peak, file);
                    bar.set_message(format!("{} findings", report.findings.len()));
                    bar.inc(1);
                }
                Event::RangeDone { plan, seconds } => {
                    report.add_seconds(plans[plan].format, seconds)
                }
            }
        }
        watchers
            .into_iter()
            .try_for_each(|w| w.join().expect("a watcher thread"))
    })?;
    bar.finish_and_clear();
    Ok(report)
}

/// A progress bar on a terminal, else nothing.
fn progress(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {pos}/{len} {msg}")
        .expect("a valid template");
    bar.set_style(style);
    bar
}

/// Writes the mutant of a finding to `<out>/<format>/<kind>-<index>.<ext>`.
fn save(
    format: Format,
    seeds: &[Vec<u8>],
    index: u64,
    outcome: &Outcome,
    s: &Settings,
) -> Result<PathBuf, String> {
    let kind = match outcome {
        Outcome::Panic(_) => "panic",
        Outcome::Abort(_) => "abort",
        _ => "hang",
    };
    let dir = s.out.join(format.name());
    let path = dir.join(format!("{kind}-{index}.{}", format.extension()));
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, mutate::mutant(format, seeds, s.seed, index)))
        .map_err(|e| format!("cannot save {}: {e}", path.display()))?;
    Ok(path)
}

/// Runs a range in workers until every case has ended, restarting after each abort or
/// hang.
fn watch(
    exe: &Path,
    tmp: &Path,
    plan: &Plan,
    range: &Range,
    s: &Settings,
    tx: &mpsc::Sender<Event>,
) -> Result<(), String> {
    let send = |index, outcome, peak| {
        let _ = tx.send(Event::Case {
            plan: range.plan,
            index,
            outcome,
            peak,
        });
    };
    let mut next = range.start;
    while next < range.end {
        let worker = Worker::start(exe, tmp, plan, next, range.end, s)?;
        let mut current = None;
        let mut deadline = Instant::now() + s.timeout;
        loop {
            match worker
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(Line::Start(index)) => current = Some(index),
                Ok(Line::Done { index, ended, peak }) => {
                    let outcome = match ended {
                        Ended::Accepted => Outcome::Accepted,
                        Ended::Rejected => Outcome::Rejected,
                        Ended::Panic(m) => Outcome::Panic(m),
                    };
                    send(index, outcome, peak);
                    next = index + 1;
                    current = None;
                }
                Err(RecvTimeoutError::Timeout) => {
                    worker.kill();
                    let index = current.ok_or("a worker stalled between cases")?;
                    send(index, Outcome::Hang, 0);
                    next = index + 1;
                    break;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let death = worker.death()?;
                    match current {
                        Some(index) => {
                            send(index, Outcome::Abort(death), 0);
                            next = index + 1;
                        }
                        None if next < range.end => {
                            return Err(format!("a worker failed: {death}"))
                        }
                        None => {}
                    }
                    break;
                }
            }
            deadline = Instant::now() + s.timeout;
        }
    }
    Ok(())
}

/// A running worker: its process, the report lines on its stdout, and what it says on
/// stderr.
struct Worker {
    child: Child,
    lines: mpsc::Receiver<Line>,
    said: Arc<Mutex<Stderr>>,
    stderr_reader: thread::JoinHandle<()>,
}

impl Worker {
    /// Starts a worker on cases `start..end` of `plan`.
    fn start(
        exe: &Path,
        tmp: &Path,
        plan: &Plan,
        start: u64,
        end: u64,
        s: &Settings,
    ) -> Result<Worker, String> {
        let mut child = Command::new(exe)
            .arg("worker")
            .args(["--format", plan.format.name()])
            .args(["--seed", &s.seed.to_string()])
            .args(["--start", &start.to_string(), "--end", &end.to_string()])
            .args(["--memory-cap", &s.memory_cap.to_string()])
            .args(s.replay.then_some("--replay"))
            .arg("--tmp")
            .arg(tmp)
            .arg("--")
            .args(&plan.seeds)
            // Failed allocations are explained by the cap; no backtraces from std.
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a worker: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (lines_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(line) = Line::parse(&line) {
                    let _ = lines_tx.send(line);
                }
            }
        });
        let said = Arc::new(Mutex::new(Stderr::default()));
        let writer = said.clone();
        let stderr_reader = thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                writer.lock().expect("stderr").push(line);
            }
        });
        Ok(Worker {
            child,
            lines,
            said,
            stderr_reader,
        })
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// How the worker, whose stdout has closed, ended.
    fn death(mut self) -> Result<String, String> {
        let status = self
            .child
            .wait()
            .map_err(|e| format!("lost a worker: {e}"))?;
        let _ = self.stderr_reader.join();
        let said = self.said.lock().expect("stderr");
        Ok(death(status, &said))
    }
}

/// What a worker said on stderr that may explain its death.
#[derive(Default)]
struct Stderr {
    /// The last allocation refused by the memory cap (threads may have written other
    /// text into the same line).
    refused: Option<String>,
    /// The last lines.
    tail: VecDeque<String>,
}

impl Stderr {
    fn push(&mut self, line: String) {
        if let Some(at) = line.find(alloc::REFUSED) {
            self.refused = Some(line[at..].to_string());
        }
        if self.tail.len() == STDERR_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// How a worker died: its signal or exit status, and what its stderr says (an
/// allocation refused by the memory cap, with where it was asked for; a stack overflow;
/// else its last line).
fn death(status: ExitStatus, said: &Stderr) -> String {
    let how = match status.signal() {
        Some(6) => "SIGABRT".to_string(),
        Some(9) => "SIGKILL".to_string(),
        Some(11) => "SIGSEGV".to_string(),
        Some(n) => format!("signal {n}"),
        None => format!("exit status {}", status.code().unwrap_or(-1)),
    };
    let last = |what: &str| said.tail.iter().rev().find(|l| l.contains(what));
    let why = said
        .refused
        .as_ref()
        .or_else(|| last("overflowed its stack"))
        .or_else(|| said.tail.iter().rev().find(|l| !l.trim().is_empty()));
    match why {
        Some(why) => format!("{how}: {}", why.trim().trim_start_matches("nnopt-fuzz: ")),
        None => how,
    }
}
