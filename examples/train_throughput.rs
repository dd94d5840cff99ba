//! Client training throughput: samples per second of the training runtime, FP32 and FP8,
//! on one model (default: the digits CNN).
//!
//! Usage (from the repo root):
//! `cargo run --release --example train_throughput -- [MODEL] [DATA.csv.gz | synthetic:N]
//! [EPOCHS]`
//!
//! Compiles MODEL into a training program (batch 16, `--reinit` seed 0), trains a client
//! for EPOCHS passes over the training rows of DATA in each precision (after one warm-up
//! epoch) and prints the samples per second, with FP8's ratio to FP32 (the anchor,
//! measured in the same run). `synthetic:N` trains on N seeded uniform samples in
//! [-1, 1] shaped like the model input, labelled 0..10 in turn (for throughput only).

#[path = "../tests/common/train.rs"]
mod train_options;

use nnopt::compiler::ir::ValueRef;
use nnopt::passes::TrainPrecision;
use nnopt::train::data::load_csv;
use nnopt::train::runtime::{Client, Samples};
use nnopt::train::TrainingProgram;
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), String> {
    // On a pool thread (sized by RAYON_NUM_THREADS), so that the kernels' parallel loops
    // start without handing work across threads, as the CLI runs them.
    let pool = rayon::ThreadPoolBuilder::new()
        .build()
        .map_err(|e| e.to_string())?;
    pool.install(measure)
}

fn measure() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let model = args
        .get(1)
        .map_or("../shared/models/generated/digits_cnn_float.tflite", |s| s);
    let data = args.get(2).map_or("../shared/data/digits.csv.gz", |s| s);
    let epochs: usize = args
        .get(3)
        .map_or(Ok(3), |s| s.parse())
        .map_err(|e| format!("EPOCHS: {e}"))?;
    let e = |e: nnopt::Error| e.to_string();
    let forward = nnopt::load_model(Path::new(model)).map_err(e)?;
    let program =
        TrainingProgram::compile(&forward, &train_options::fp8_batch16_reinit0()).map_err(e)?;
    let (samples, rows) = match data.strip_prefix("synthetic:") {
        Some(n) => {
            let n = n.parse().map_err(|_| format!("{data}: N is not a count"))?;
            let input = forward.ty(ValueRef::first(forward.inputs()[0]));
            let row_len = input.shape.iter().skip(1).product();
            (synthetic(n, row_len), (0..n).collect())
        }
        None => {
            let d = load_csv(Path::new(data)).map_err(e)?;
            (d.samples, d.train_rows)
        }
    };
    println!("{model}: {epochs} epochs of {} rows, batch 16", rows.len());
    println!("{:<10} {:>12} {:>10}", "precision", "samples/s", "vs fp32");
    let mut anchor = None;
    for precision in [TrainPrecision::Fp32, TrainPrecision::Fp8] {
        let mut client = Client::new(&program, precision, 0).map_err(e)?;
        client.train_epoch(&samples, &rows).map_err(e)?;
        let t = Instant::now();
        let mut seen = 0;
        for _ in 0..epochs {
            seen += client.train_epoch(&samples, &rows).map_err(e)?.samples;
        }
        let rate = seen as f64 / t.elapsed().as_secs_f64();
        let base = *anchor.get_or_insert(rate);
        println!(
            "{:<10} {:>12.0} {:>9.2}x",
            precision.name(),
            rate,
            rate / base
        );
    }
    Ok(())
}

/// `n` samples of `row_len` values from a fixed linear congruential sequence, in [-1, 1],
/// labelled 0..10 in turn.
fn synthetic(n: usize, row_len: usize) -> Samples {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let values = (0..n * row_len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    Samples {
        values,
        labels: (0..n as i64).map(|i| i % 10).collect(),
        row_len,
    }
}
