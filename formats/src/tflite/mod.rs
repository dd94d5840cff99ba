//! TFLite (flatbuffers, schema 3): the generated schema shared by the importer and the
//! exporter.

mod export;
mod import;
nnopt_compiler::flatbuffers_module!(schema_generated);

pub use export::{export_tflite, export_tflite_with, TfliteExportOptions};
pub use import::{import_tflite_bytes, supported_ops};

/// The flatc-generated TFLite schema (`schemas/tflite_schema.fbs`).
pub use schema_generated::tflite as schema;
