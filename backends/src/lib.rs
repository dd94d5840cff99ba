//! nnopt backends: ONNX export and the NPU.

pub mod npu;
pub mod onnx;
