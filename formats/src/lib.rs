//! nnopt-formats: reads and writes models. Each format (ONNX through tract-onnx's protobuf
//! types, TFLite through the flatc-generated schema) imports and exports in one module.

mod dims;
pub mod onnx;
pub mod tflite;

use nnopt_compiler::ir::Graph;
use nnopt_compiler::{Error, Result};
use std::path::Path;

/// Imports a model file, choosing the importer from the file's contents (TFLite files
/// carry the `TFL3` identifier) or extension.
pub fn import_model(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::new(format!("cannot read model: {e}")).in_file(path))?;
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let has_identifier = bytes.get(4..8) == Some(b"TFL3");
    let named_tflite = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tflite"));
    if named_tflite && !has_identifier {
        // TFLite's own verifier requires the identifier too.
        return Err(Error::new(
            "not a TFLite model: bytes 4..8 are not the flatbuffer file identifier 'TFL3'",
        )
        .in_file(path));
    }
    let result = if has_identifier {
        tflite::import_tflite_bytes(&bytes, name)
    } else {
        onnx::import_onnx_bytes(&bytes, name)
    };
    result.map_err(|e| e.in_file(path))
}
