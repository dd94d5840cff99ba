//! TFLite importer: verifies the flatbuffer, then maps each operator of subgraph 0 to IR
//! ops (NHWC layout, OHWI weights; depthwise weights become grouped-conv OHWI weights).
//! Nodes whose inputs are all constant are evaluated at import time.

mod builder;
mod model;
mod ops;
#[allow(
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    deprecated,
    unsafe_op_in_unsafe_fn,
    mismatched_lifetime_syntaxes,
    clippy::all,
    clippy::pedantic
)]
#[rustfmt::skip]
pub mod schema_generated;
mod tensors;

use crate::ir::{verify, Graph};
use crate::Result;
use schema_generated::tflite as fb;

/// The flatc-generated TFLite schema (`schemas/tflite_schema.fbs`), for writers.
pub use schema_generated::tflite as schema;

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
