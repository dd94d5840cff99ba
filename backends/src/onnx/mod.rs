//! ONNX export: writes an IR graph as an ONNX model (opset 17) that onnxruntime runs.
//!
//! NHWC ops (from TFLite) are wrapped in transposes; ops on quantized tensors are written
//! in QDQ form (DequantizeLinear -> float op -> QuantizeLinear).

mod export;
mod proto;

pub use export::{export_onnx, export_onnx_model, opset_for, FP8_OPSET, OPSET};
