//! TFLite importer.

use crate::ir::Graph;
use crate::{bail, Result};

/// Imports a TFLite model from its serialized bytes.
pub fn import_tflite_bytes(_bytes: &[u8], _name: &str) -> Result<Graph> {
    bail!("TFLite import is not implemented yet")
}
