//! Times tract (Rust, tract-onnx) on a float ONNX model: the reference `benches/speed.py`
//! sets beside `nnopt run` and onnxruntime.
//!
//! Usage (from the repo root):
//! `cargo run --release --example tract_run -- MODEL.onnx INPUT.npy... [--min-time SECONDS]
//! [--repeats R] [--max-repeats M]`
//!
//! Loads and optimizes the model with its declared input shapes, runs one warm-up
//! inference, then R inferences (R grown until they take `--min-time` seconds, capped at
//! `--max-repeats`) and prints one line, `RESULT {"ok": true, "cpu_ms": .., "wall_ms": ..,
//! "repeats": ..}`: CPU time (user + system, this process) and wall time per inference.
//! tract runs on one thread (tract-onnx's default build has no multithreaded matrix
//! kernels). Errors print `RESULT {"ok": false, "error": ..}` and exit 1.

use ndarray_npy::ReadNpyExt;
use std::fs::File;
use std::time::Instant;
use tract_onnx::prelude::*;

/// Parsed command line.
struct Args {
    model: String,
    inputs: Vec<String>,
    min_time: f64,
    repeats: usize,
    max_repeats: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: String::new(),
        inputs: Vec::new(),
        min_time: 1.0,
        repeats: 3,
        max_repeats: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--min-time" => args.min_time = parse(&value("--min-time")?, "--min-time")?,
            "--repeats" => args.repeats = parse(&value("--repeats")?, "--repeats")?,
            "--max-repeats" => args.max_repeats = parse(&value("--max-repeats")?, "--max-repeats")?,
            _ if args.model.is_empty() => args.model = a,
            _ => args.inputs.push(a),
        }
    }
    if args.model.is_empty() {
        return Err(
            "usage: tract_run MODEL.onnx INPUT.npy... [--min-time S] [--repeats R] \
             [--max-repeats M]"
                .into(),
        );
    }
    Ok(args)
}

fn parse<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{what}: cannot parse {s:?}"))
}

/// CPU time (user + system) this process has used, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The input at `path` (a float32 .npy) as a tract tensor.
fn load_input(path: &str) -> Result<TValue, String> {
    let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let a = ndarray::ArrayD::<f32>::read_npy(file).map_err(|e| format!("{path}: {e}"))?;
    let shape = a.shape().to_vec();
    let data: Vec<f32> = a.iter().copied().collect();
    let t = Tensor::from_shape(&shape, &data).map_err(|e| format!("{path}: {e}"))?;
    Ok(t.into())
}

fn measure(args: &Args) -> Result<(f64, f64, usize), String> {
    let e = |e: TractError| format!("{}: {e:?}", args.model);
    let model = tract_onnx::onnx()
        .model_for_path(&args.model)
        .map_err(e)?
        .into_optimized()
        .map_err(e)?
        .into_runnable()
        .map_err(e)?;
    let inputs: TVec<TValue> = args
        .inputs
        .iter()
        .map(|p| load_input(p))
        .collect::<Result<_, _>>()?;
    let once = || model.run(inputs.clone()).map(drop).map_err(e);
    once()?; // warm-up
    let (c0, w0) = (cpu_seconds(), Instant::now());
    once()?;
    let estimate = (cpu_seconds() - c0)
        .max(w0.elapsed().as_secs_f64())
        .max(1e-7);
    let reps = ((args.min_time / estimate).ceil() as usize).clamp(
        args.repeats.max(1),
        args.max_repeats.max(args.repeats).max(1),
    );
    let (c0, w0) = (cpu_seconds(), Instant::now());
    for _ in 0..reps {
        once()?;
    }
    let cpu = (cpu_seconds() - c0) / reps as f64;
    let wall = w0.elapsed().as_secs_f64() / reps as f64;
    Ok((cpu * 1e3, wall * 1e3, reps))
}

fn main() {
    let result = parse_args().and_then(|args| measure(&args));
    match result {
        Ok((cpu_ms, wall_ms, repeats)) => println!(
            "RESULT {}",
            serde_json::json!({"ok": true, "cpu_ms": cpu_ms, "wall_ms": wall_ms, "repeats": repeats})
        ),
        Err(error) => {
            println!(
                "RESULT {}",
                serde_json::json!({"ok": false, "error": error})
            );
            std::process::exit(1);
        }
    }
}
