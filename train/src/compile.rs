//! `nnopt compile --target train`: a float model becomes a training program (`.ntp`)
//! for edge clients: one graph per precision doing forward, backward and the SGD update.

use crate::{binary, CompileOptions, TrainingProgram};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::Result;
use std::time::Instant;

/// A compiled training program and its file.
#[derive(Clone, Debug)]
pub struct TrainCompiled {
    pub program: TrainingProgram,
    /// The `.ntp` file.
    pub bytes: Vec<u8>,
    /// Wall time of compilation and serialization (ms).
    pub compile_ms: f64,
}

/// Compiles `forward` (one output: logits, or their softmax; batch normalization
/// folded) into a training program and serializes it.
pub fn compile_train(forward: &Graph, opts: &CompileOptions) -> Result<TrainCompiled> {
    let start = Instant::now();
    let program = TrainingProgram::compile(forward, opts)?;
    let bytes = binary::write(&program);
    Ok(TrainCompiled {
        program,
        bytes,
        compile_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}
