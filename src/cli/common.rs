//! Helpers shared by the subcommands.

use clap::Args;
use nnopt::model_inputs::{random_inputs, read_inputs, Inputs};
use nnopt::runner::Port;
use nnopt::{Error, Result};
use std::path::{Path, PathBuf};

/// `--threads`, shared by the subcommands that compute.
#[derive(Args, Clone, Copy, Debug)]
pub struct ThreadsArg {
    /// Worker threads for kernels, stacked inputs, calibration samples and clients
    /// (default: all cores). Outputs are identical for every count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

impl ThreadsArg {
    /// Runs `f` on a pool of `--threads` worker threads (default: all cores). The command
    /// itself runs on a pool thread, so its kernels' parallel loops start without handing
    /// work across threads (with one thread they run inline, without context switches).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(n) = self.threads {
            pool = pool.num_threads(n.into());
        }
        let pool = pool
            .build()
            .map_err(|e| Error::new(format!("cannot start the worker threads: {e}")))?;
        pool.install(f)
    }
}

/// `--input`, `--random` and `--seed`: the inputs of `run` and `compare`.
#[derive(Args, Clone, Debug)]
pub struct InputArgs {
    /// One .npy file per model input, in order (an input with k times the model's batch
    /// runs k times). Float values given to a quantized (int8) input are quantized with
    /// the input's scale and zero point.
    #[arg(
        long,
        short,
        required_unless_present = "random",
        conflicts_with = "random"
    )]
    pub input: Vec<PathBuf>,
    /// Run on random inputs of the model's shapes and types instead: every code of a
    /// quantized input equally likely, float inputs uniform in [-1, 1).
    #[arg(long)]
    pub random: bool,
    /// Seed of --random.
    #[arg(long, requires = "random", default_value_t = 0)]
    pub seed: u64,
}

impl InputArgs {
    /// The inputs for a model with these `ports`: read from the files, or random.
    pub fn for_ports(&self, ports: &[Port]) -> Result<Inputs> {
        if self.random {
            Ok(random_inputs(ports, self.seed))
        } else {
            read_inputs(&self.input, ports)
        }
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

/// Where a command writes its result: `given`, or by default `STEM[_VARIANT].EXT` beside
/// the model (`compile`: model.npub, model.ntp; `quantize`: model_e4m3.onnx; `export
/// --int8`: model_int8.tflite). A default that would overwrite the model itself gets
/// `_nnopt` appended to the stem; a given path equal to the model is an error.
pub fn output_path(
    given: Option<&Path>,
    model: &Path,
    variant: &str,
    ext: &str,
) -> Result<PathBuf> {
    let same = |p: &Path| match (p.canonicalize(), model.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => p == model,
    };
    if let Some(p) = given {
        if same(p) {
            return Err(Error::new(format!(
                "the output {} is the model itself: give another --output",
                p.display()
            )));
        }
        return Ok(p.to_path_buf());
    }
    let stem = file_stem(model);
    let default = model.with_file_name(format!("{stem}{variant}.{ext}"));
    Ok(if same(&default) {
        model.with_file_name(format!("{stem}{variant}_nnopt.{ext}"))
    } else {
        default
    })
}

/// `name` cut to its last `n` characters.
pub fn shorten(name: &str, n: usize) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() > n {
        true => format!(
            "…{}",
            chars[chars.len() - (n - 1)..].iter().collect::<String>()
        ),
        false => name.to_string(),
    }
}
