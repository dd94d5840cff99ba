//! TFLite (flatbuffers, schema 3): the generated schema shared by the importer and the
//! exporter.

mod export;
mod import;
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
mod schema_generated;

pub use export::export_tflite;
pub use import::import_tflite_bytes;

/// The flatc-generated TFLite schema (`schemas/tflite_schema.fbs`).
pub use schema_generated::tflite as schema;
