//! `nnopt compress` ([`nnopt_udc::compress`]) with the size oracle that makes its budget
//! the `weight_encoded_bytes` of `nnopt compile --json`: each int8 model is compiled as
//! that command compiles it.

use crate::compile::{compile_npu, NpuOptions, Precision};
use nnopt_backends::npu::target::Target;
use nnopt_compiler::ir::Graph;
use nnopt_compiler::Result;
use nnopt_train::data::Dataset;
use nnopt_udc::Progress;

pub use nnopt_udc::compress::{
    CompressReport, CompressRequest, Compressed, ExploredPoint, LayerChoice, Measured, Unreachable,
};

/// The options of `nnopt compile --target npu` for an int8 model (the default target,
/// CPU fallback allowed), which the budget is counted with.
pub fn npu_options() -> Result<NpuOptions> {
    Ok(NpuOptions {
        target: Target::preset("npu-256")?,
        precision: Precision::Int8,
        cpu_fallback: true,
        calibration: Default::default(),
        pipeline: None,
    })
}

/// The encoded bytes of each weight block of an int8 graph, by layer, from the same
/// compile as `nnopt compile --target npu`.
pub fn weight_blocks(g: &Graph) -> Result<Vec<(String, usize)>> {
    let c = compile_npu(g.clone(), &npu_options()?)?;
    Ok(c.weights
        .into_iter()
        .map(|w| (w.layer, w.encoded_bytes))
        .collect())
}

/// Compresses float model `g` trained on `data` to `req.search.budget` encoded weight
/// bytes.
pub fn compress(
    g: &Graph,
    data: &Dataset,
    req: &CompressRequest,
    progress: &Progress,
) -> Result<Compressed> {
    nnopt_udc::compress::compress(g, data, req, &weight_blocks, progress)
}
