//! nnopt backends: ONNX and TFLite export, and the NPU.

pub mod npu;
pub mod onnx;
pub mod tflite;
