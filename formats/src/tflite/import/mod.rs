//! TFLite importer: verifies the flatbuffer, then maps each operator of subgraph 0 to IR
//! ops (NHWC layout, OHWI weights; depthwise weights become grouped-conv OHWI weights).
//! Nodes whose inputs are all constant are evaluated at import time, and sparse constants
//! are expanded to dense ones (so DENSIFY becomes its constant).

mod builder;
mod model;
mod ops;
pub use ops::supported_ops;
mod sparse;
mod tensors;

use crate::tflite::schema as fb;
use nnopt_compiler::ir::{verify, Graph};
use nnopt_compiler::Result;

/// Imports a TFLite model from its serialized bytes.
pub fn import_tflite_bytes(bytes: &[u8], name: &str) -> Result<Graph> {
    let file = model::ModelFile::parse(bytes)?;
    let mut b = builder::Builder::new(&file, name);
    b.add_inputs()?;
    for (index, op) in file.operators().iter().enumerate() {
        ops::import_op(&mut b, index, op)?;
    }
    let g = b.finish()?;
    verify(&g)?;
    Ok(g)
}
