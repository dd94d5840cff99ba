//! Client training throughput: samples per second of the training runtime, FP32 and FP8,
//! on one model (default: the digits CNN).
//!
//! Usage (from the repo root):
//! `cargo run --release --example train_throughput -- [MODEL] [DATA.csv.gz] [EPOCHS]`
//!
//! Compiles MODEL into a training program (batch 16, `--reinit` seed 0), trains a client
//! for EPOCHS passes over the training rows of DATA in each precision (after one warm-up
//! epoch) and prints the samples per second, with FP8's ratio to FP32 (the anchor,
//! measured in the same run).

#[path = "../tests/common/train.rs"]
mod train_options;

use nnopt::passes::TrainPrecision;
use nnopt::train::fl::data::load_csv;
use nnopt::train::runtime::Client;
use nnopt::train::TrainingProgram;
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), String> {
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
    let d = load_csv(Path::new(data)).map_err(e)?;
    println!(
        "{model}: {epochs} epochs of {} rows, batch 16",
        d.train_rows.len()
    );
    println!("{:<10} {:>12} {:>10}", "precision", "samples/s", "vs fp32");
    let mut anchor = None;
    for precision in [TrainPrecision::Fp32, TrainPrecision::Fp8] {
        let mut client = Client::new(&program, precision, 0).map_err(e)?;
        client.train_epoch(&d.samples, &d.train_rows).map_err(e)?;
        let t = Instant::now();
        let mut samples = 0;
        for _ in 0..epochs {
            samples += client
                .train_epoch(&d.samples, &d.train_rows)
                .map_err(e)?
                .samples;
        }
        let rate = samples as f64 / t.elapsed().as_secs_f64();
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
