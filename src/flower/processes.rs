//! The processes of a localhost Flower deployment: started with the Python environment's
//! tools on `PATH` and their output in log files, and stopped together with everything
//! they started. Flower's SuperLink and SuperNodes start SuperExec processes in sessions
//! of their own, which outlive their parents, so stopping follows parent links through
//! `/proc` (Linux): every process seen descending from a started one is signalled, first
//! `SIGTERM`, then `SIGKILL`.

use crate::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Started processes and every descendant seen so far.
pub struct ProcessTree {
    children: Vec<Child>,
    seen: BTreeSet<u32>,
}

impl ProcessTree {
    pub fn new() -> Self {
        ProcessTree {
            children: Vec::new(),
            seen: BTreeSet::new(),
        }
    }

    /// Starts `program` with `args`, `PATH` led by `bin`, `env`, Flower's telemetry and
    /// update check off (nothing leaves the machine), and its output into `log`.
    pub fn spawn(
        &mut self,
        program: &Path,
        args: &[String],
        bin: &Path,
        env: &[(&str, &Path)],
        log: &Path,
    ) -> Result<u32> {
        let out = std::fs::File::create(log)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", log.display())))?;
        let err = out.try_clone().map_err(|e| Error::new(e.to_string()))?;
        let path = match std::env::var_os("PATH") {
            Some(p) => {
                let mut dirs = vec![bin.to_path_buf()];
                dirs.extend(std::env::split_paths(&p));
                std::env::join_paths(dirs).map_err(|e| Error::new(e.to_string()))?
            }
            None => bin.as_os_str().to_owned(),
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("PATH", path)
            .env("FLWR_TELEMETRY_ENABLED", "0")
            .env("FLWR_DISABLE_UPDATE_CHECK", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::new(format!("cannot start {}: {e}", program.display())))?;
        let pid = child.id();
        self.children.push(child);
        self.seen.insert(pid);
        Ok(pid)
    }

    /// Whether the `i`-th started process has exited (and its status if so).
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        self.children
            .get_mut(i)
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Adds the descendants of the processes seen so far that are alive now.
    fn refresh(&mut self) {
        let table = process_table();
        loop {
            let before = self.seen.len();
            for &(pid, ppid) in &table {
                if self.seen.contains(&ppid) {
                    self.seen.insert(pid);
                }
            }
            if self.seen.len() == before {
                break;
            }
        }
    }

    /// Every live process of the deployment.
    pub fn live(&mut self) -> Vec<u32> {
        self.refresh();
        let alive: BTreeSet<u32> = process_table().iter().map(|&(p, _)| p).collect();
        self.seen
            .iter()
            .copied()
            .filter(|p| alive.contains(p))
            .collect()
    }

    /// Stops every process: `SIGTERM`, up to `grace` for them to exit, then `SIGKILL`.
    pub fn stop(&mut self, grace: Duration) {
        for signal in [Signal::Term, Signal::Kill] {
            let deadline = Instant::now() + grace;
            loop {
                let live = self.live();
                if live.is_empty() {
                    break;
                }
                for &pid in &live {
                    send(pid, signal);
                }
                self.reap();
                if Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
    }

    fn reap(&mut self) {
        for c in &mut self.children {
            let _ = c.try_wait();
        }
    }

    /// Listening TCP sockets of the deployment's processes that are not on the loopback
    /// address, as "pid address:port".
    pub fn listening_beyond_loopback(&mut self) -> Vec<String> {
        let pids = self.live();
        let listening = listening_sockets();
        let mut found = Vec::new();
        for pid in pids {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let t = target.to_string_lossy();
                let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']'))
                else {
                    continue;
                };
                if let Some((addr, loopback)) = listening
                    .iter()
                    .find(|(i, _, _)| i == inode)
                    .map(|(_, a, l)| (a, *l))
                {
                    if !loopback {
                        found.push(format!("{pid} {addr}"));
                    }
                }
            }
        }
        found
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(3));
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

#[cfg(unix)]
fn send(pid: u32, signal: Signal) {
    let s = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill has no memory effects; a stale pid is at worst an error we ignore.
    unsafe {
        libc::kill(pid as libc::pid_t, s);
    }
}

#[cfg(not(unix))]
fn send(_pid: u32, _signal: Signal) {}

/// (pid, parent pid) of every process (Linux `/proc`; empty elsewhere).
fn process_table() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let rest = &stat[stat.rfind(')')? + 1..];
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?.parse().ok()?;
            (state != "Z" && state != "X").then_some((pid, ppid))
        })
        .collect()
}

/// Listening TCP sockets: (inode, "address:port", on loopback).
fn listening_sockets() -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some((addr, port)) = f[1].split_once(':') else {
                continue;
            };
            let port = u16::from_str_radix(port, 16).unwrap_or(0);
            let (text, loopback) = if v6 {
                let loopback = addr == "00000000000000000000000001000000"
                    || addr == "0000000000000000FFFF00000100007F";
                (format!("[{addr}]:{port}"), loopback)
            } else {
                let v = u32::from_str_radix(addr, 16).unwrap_or(0).to_le_bytes();
                (
                    format!("{}.{}.{}.{}:{port}", v[0], v[1], v[2], v[3]),
                    v[0] == 127,
                )
            };
            out.push((f[9].to_string(), text, loopback));
        }
    }
    out
}

/// Set by `SIGINT` or `SIGTERM` once [`catch_interrupts`] ran.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// From now on `SIGINT` (Ctrl-C) and `SIGTERM` only mark the process interrupted
/// ([`interrupted`]), so that the deployment is stopped on the way out instead of left
/// behind: Flower's SuperExecs run in sessions of their own and get no Ctrl-C.
pub fn catch_interrupts() {
    #[cfg(unix)]
    {
        extern "C" fn mark(_: libc::c_int) {
            INTERRUPTED.store(true, Ordering::SeqCst);
        }
        let handler = mark as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }
}

/// Whether `SIGINT` or `SIGTERM` arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::new(format!("no free port on 127.0.0.1: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| Error::new(e.to_string()))?
        .port())
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline && !interrupted() {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// The last `n` lines of a log file.
pub fn tail(path: &PathBuf, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
