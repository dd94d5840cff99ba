//! nnopt backends: ONNX export.

pub mod onnx;
