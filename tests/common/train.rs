//! Training-program options shared by the FL tests and the `train_throughput` example
//! (which includes this file with `#[path]`).

use nnopt::passes::TrainPrecision;
use nnopt::train::CompileOptions;

/// FP8 training, batch 16, weights re-initialized (He) with seed 0, the default
/// optimizer.
pub fn fp8_batch16_reinit0() -> CompileOptions {
    CompileOptions {
        precision: TrainPrecision::Fp8,
        batch: 16,
        reinit: Some(0),
        ..Default::default()
    }
}
