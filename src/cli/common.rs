//! Helpers shared by the subcommands.

use clap::Args;
use nnopt::{Error, Result};
use std::path::Path;

/// `--threads`, shared by the subcommands that compute.
#[derive(Args, Clone, Copy, Debug)]
pub struct ThreadsArg {
    /// Worker threads for kernels, stacked inputs, calibration samples and clients
    /// (default: all cores). Outputs are identical for every count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

impl ThreadsArg {
    /// Sizes the global worker pool; call before any parallel work.
    pub fn apply(&self) -> Result<()> {
        let Some(n) = self.threads else {
            return Ok(());
        };
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build_global()
            .map_err(|e| Error::new(format!("cannot start {n} worker threads: {e}")))
    }
}

/// Pretty-printed JSON of a summary, for `--json`.
pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("summaries serialize")
}

/// The file stem of `path` (a model's name in reports), or "" when it has none.
pub fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
