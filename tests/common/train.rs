//! Training-program options shared by the FL tests and the `train_throughput` example
//! (which includes this file with `#[path]`).

use nnopt::passes::{TrainOptions, TrainPrecision};
use nnopt::train::CompileOptions;

/// FP8 training, batch 16, weights re-initialized (Glorot) with seed 0.
pub fn fp8_batch16_reinit0() -> CompileOptions {
    CompileOptions {
        train: TrainOptions {
            precision: TrainPrecision::Fp8,
            ..Default::default()
        },
        batch: 16,
        reinit: Some(0),
        ..Default::default()
    }
}
