//! ONNX: models are protobuf `ModelProto`s, read and written with tract-onnx's protobuf
//! types (only the types, not tract's model building).

mod export;
mod import;
mod packing;

pub use export::{export_onnx, export_onnx_model, opset_for, FP8_OPSET, OPSET};
pub use import::{import_onnx_bytes, import_onnx_with_constants, supported_ops, tensor_from_proto};
