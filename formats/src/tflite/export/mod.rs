//! TFLite export: writes an IR graph as a `.tflite` flatbuffer (schema 3) that LiteRT and
//! TFLite Micro run.
//!
//! Quantized graphs (int8 ops with per-tensor or per-channel quantization, int32 biases,
//! QUANTIZE / DEQUANTIZE at float boundaries) map op for op; float graphs are written too.
//!
//! Layout: TFLite kernels are NHWC. NHWC graphs (imported from TFLite) map directly. For
//! NCHW graphs (imported from ONNX) the writer converts whole chains instead of wrapping
//! every op in transposes: each 4-D value produced by a layout-aware op (conv, pool,
//! resize, depth-to-space) is stored NHWC, and layout-agnostic ops that follow
//! (elementwise ops, activations, quantize, concat, pad, softmax over channels,
//! reductions) keep working on the NHWC tensor with their axes remapped. A TRANSPOSE is
//! inserted only where a layout-sensitive consumer (reshape, gemm, slice, a graph output,
//! ...) needs the NCHW value, and graph inputs stay NCHW (one TRANSPOSE after them), so
//! the exported model keeps the original input and output shapes.

mod layout;
mod lower;
mod model;
mod ops;
mod serialize;

use nnopt_compiler::ir::Graph;
use nnopt_compiler::Result;

/// Serializes the graph as a TFLite flatbuffer.
pub fn export_tflite(g: &Graph) -> Result<Vec<u8>> {
    let model = lower::lower(g)?;
    Ok(serialize::serialize(&model, &g.name))
}
