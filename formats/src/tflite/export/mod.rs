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
//!
//! With [`TfliteExportOptions::sparse_weights`], convolution and fully connected weights
//! that are mostly zero are stored sparse, each expanded by a DENSIFY (see `sparse.rs`).

mod layout;
mod lower;
mod model;
mod ops;
mod serialize;
mod sparse;

use nnopt_compiler::ir::Graph;
use nnopt_compiler::Result;

/// How [`export_tflite_with`] writes a model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TfliteExportOptions {
    /// Store the int8 and float32 weights of CONV_2D, DEPTHWISE_CONV_2D and
    /// FULLY_CONNECTED in TFLite's sparse format (CSR on the last dimension) where that
    /// takes fewer bytes, each followed by a DENSIFY operator that feeds the layer.
    pub sparse_weights: bool,
}

/// Serializes the graph as a TFLite flatbuffer.
pub fn export_tflite(g: &Graph) -> Result<Vec<u8>> {
    export_tflite_with(g, &TfliteExportOptions::default())
}

/// Serializes the graph as a TFLite flatbuffer, as `options` say.
pub fn export_tflite_with(g: &Graph, options: &TfliteExportOptions) -> Result<Vec<u8>> {
    crate::dims::dims_fit(g, i32::MAX as u64, "TFLite's int32 shapes")?;
    let mut model = lower::lower(g)?;
    if options.sparse_weights {
        sparse::sparsify(&mut model);
    }
    Ok(serialize::serialize(&model, &g.name))
}
