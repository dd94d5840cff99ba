//! Labels measured with LiteRT (`ai-edge-litert`, driven through Python): the latency of
//! one inference on this machine's CPU with one thread, with LiteRT's builtin kernels and
//! with its default XNNPACK delegate, as the median of k timed runs after a warm-up, and
//! the interquartile range as the run-to-run spread.
//!
//! Measurements are serialized (one at a time, whatever `--threads` says), but other
//! networks are generated meanwhile; for the cleanest figures run with `--threads 1`.

use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// The Python side: times the model and prints one JSON object.
const SCRIPT: &str = r#"
import json, sys, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
path, runs = sys.argv[1], int(sys.argv[2])
out = {}
for label, resolver in [("builtin", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
                        ("xnnpack", OpResolverType.AUTO)]:
    it = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=resolver)
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    for d in it.get_input_details():
        if np.issubdtype(d["dtype"], np.integer):
            i = np.iinfo(d["dtype"])
            x = rng.integers(i.min, i.max + 1, size=d["shape"], dtype=d["dtype"])
        else:
            x = rng.uniform(0, 1, size=d["shape"]).astype(d["dtype"])
        it.set_tensor(d["index"], x)
    it.invoke()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t)
    times.sort()
    q = lambda f: times[min(len(times) - 1, int(f * len(times)))]
    out[label] = {"median_ms": q(0.5) * 1e3, "iqr_ms": (q(0.75) - q(0.25)) * 1e3}
print(json.dumps(out))
"#;

/// One way of running the model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub median_ms: f64,
    /// Interquartile range of the timed runs.
    pub iqr_ms: f64,
}

/// LiteRT's latency on this machine, one thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LitertLabel {
    pub builtin: Latency,
    pub xnnpack: Latency,
    /// Timed runs per measurement.
    pub runs: usize,
}

impl LitertLabel {
    /// The latency with `kernels` (`builtin` or `xnnpack`).
    pub fn with_kernels(&self, kernels: &str) -> Option<Latency> {
        match kernels {
            "builtin" => Some(self.builtin),
            "xnnpack" => Some(self.xnnpack),
            _ => None,
        }
    }
}

/// One measurement at a time.
static MEASURING: Mutex<()> = Mutex::new(());

/// Checks that `python` can import LiteRT.
pub fn check(python: &Path) -> Result<()> {
    let run = Command::new(python)
        .args(["-c", "import ai_edge_litert.interpreter, numpy"])
        .output()
        .map_err(|e| Error::new(format!("cannot run Python ({}): {e}", python.display())))?;
    if !run.status.success() {
        return Err(Error::new(format!(
            "{} cannot import ai_edge_litert and numpy (pip install ai-edge-litert numpy), \
             or give another interpreter with --python",
            python.display()
        )));
    }
    Ok(())
}

/// Measures `model` with `runs` timed runs per way of running it.
pub fn label(python: &Path, model: &Path, runs: usize) -> Result<LitertLabel> {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let run = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(model)
        .arg(runs.to_string())
        .output()
        .map_err(|e| Error::new(format!("cannot run Python ({}): {e}", python.display())))?;
    if !run.status.success() {
        let stderr = String::from_utf8_lossy(&run.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(Error::new(format!("LiteRT failed: {last}")).in_file(model));
    }
    #[derive(Deserialize)]
    struct Both {
        builtin: Latency,
        xnnpack: Latency,
    }
    let both: Both = serde_json::from_slice(&run.stdout).map_err(|e| {
        Error::new(format!(
            "unexpected output of the LiteRT timing script: {e}"
        ))
        .in_file(model)
    })?;
    Ok(LitertLabel {
        builtin: both.builtin,
        xnnpack: both.xnnpack,
        runs,
    })
}
