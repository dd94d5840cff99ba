//! ONNX importer.

use crate::ir::Graph;
use crate::{bail, Result};

/// Imports an ONNX model from its serialized bytes.
pub fn import_onnx_bytes(_bytes: &[u8], _name: &str) -> Result<Graph> {
    bail!("ONNX import is not implemented yet")
}
