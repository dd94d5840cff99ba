//! Helpers of the nnopt-train integration tests: locations of the generated test data and
//! the shared models and data, and loading a model.
#![allow(dead_code, unused_imports)] // each test binary uses a subset

use nnopt_compiler::ir::{verify, Graph};
use std::path::Path;

#[path = "../../../tests/common/paths.rs"]
mod paths;

pub use paths::{repo, require, shared, testdata};

/// Imports an ONNX or TFLite model and verifies it.
pub fn load_model(path: &Path) -> nnopt_compiler::Result<Graph> {
    let g = nnopt_formats::import_model(path)?;
    verify(&g).map_err(|e| e.in_file(path))?;
    Ok(g)
}
