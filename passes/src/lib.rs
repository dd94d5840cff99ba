//! nnopt's optimization passes, one per file, and the default pipeline.

mod activation_fusion;
pub mod autodiff;
mod batchnorm_folding;
mod constant_folding;
mod dead_node_elimination;
pub mod egraph;
mod identity_removal;
mod noise_analysis;
pub mod noise_bounds;
pub mod options;
mod qdq_fusion;
pub mod quantize_fp8;
pub mod quantize_int8;
mod shape_inference;

pub use activation_fusion::ActivationFusion;
pub use autodiff::{
    training_graph, with_batch, Autodiff, AutodiffOptions, InitScheme, QuantPoint, QuantRole,
    TrainPrecision, TrainingGraph,
};
pub use batchnorm_folding::BatchNormFolding;
pub use constant_folding::ConstantFolding;
pub use dead_node_elimination::DeadNodeElimination;
pub use egraph::{EGraphOptimize, EGraphOptions, EGraphStats};
pub use identity_removal::IdentityRemoval;
pub use noise_analysis::{
    analyze as analyze_noise, noisy_layers, NoiseAnalysis, NoiseOptions, NoiseReport, NoisyLayer,
};
pub use qdq_fusion::QdqFusion;
pub use quantize_fp8::{quantize_fp8, Fp8Options, Fp8Report, QuantizeFp8};
pub use quantize_int8::{quantize_int8, weight_axis, Calibration, QuantizeInt8, QuantizeOptions};
pub use shape_inference::ShapeInference;

use nnopt_compiler::cost::{DefaultCost, OpCost};
use nnopt_compiler::pass::{PipelineSpec, Registry};
use std::sync::Arc;

/// The default optimization pipeline (YAML), used by `nnopt opt` without `--pipeline`.
pub const DEFAULT_PIPELINE: &str = include_str!("../pipelines/default.yaml");

/// A registry holding every pass of this crate; `egraph-optimize` extracts by the
/// target-independent [`DefaultCost`].
pub fn registry() -> Registry {
    registry_with_cost(Arc::new(DefaultCost))
}

/// A registry holding every pass of this crate, with `egraph-optimize` extracting by
/// `cost` (for instance an NPU's performance model).
pub fn registry_with_cost(cost: Arc<dyn OpCost>) -> Registry {
    let mut r = Registry::new();
    r.register(
        EGraphOptimize::NAME,
        "equality saturation with egg: algebraic, layout, batch-norm, pad, activation and concat rules, constant folding; extracts the cheapest graph by the cost model (options: node_limit, iter_limit, time_limit_ms, fold_limit, rules)",
        move |o| Ok(Box::new(EGraphOptimize::from_options(o, cost.clone())?)),
    );
    r.register(
        ShapeInference::NAME,
        "recompute every output shape and dtype from the op semantics",
        |o| {
            options::none(o)?;
            Ok(Box::new(ShapeInference))
        },
    );
    r.register(
        DeadNodeElimination::NAME,
        "remove nodes that no graph output depends on",
        |o| {
            options::none(o)?;
            Ok(Box::new(DeadNodeElimination))
        },
    );
    r.register(
        ConstantFolding::NAME,
        "evaluate nodes whose inputs are all constants",
        |o| Ok(Box::new(ConstantFolding::from_options(o)?)),
    );
    r.register(
        IdentityRemoval::NAME,
        "remove identity nodes (and inference-mode dropout)",
        |o| {
            options::none(o)?;
            Ok(Box::new(IdentityRemoval))
        },
    );
    r.register(
        BatchNormFolding::NAME,
        "fold inference batch normalization into the preceding conv or gemm",
        |o| {
            options::none(o)?;
            Ok(Box::new(BatchNormFolding))
        },
    );
    r.register(
        ActivationFusion::NAME,
        "fuse relu, relu6 and clip into the preceding conv, gemm, binary op or pool",
        |o| {
            options::none(o)?;
            Ok(Box::new(ActivationFusion))
        },
    );
    r.register(
        QdqFusion::NAME,
        "fuse QDQ form (dequantize, float op, quantize) into int8 ops, moving transposes off the quantized paths",
        |o| {
            options::none(o)?;
            Ok(Box::new(QdqFusion))
        },
    );
    r.register(
        QuantizeInt8::NAME,
        "int8 post-training quantization (synthetic calibration in pipelines; options: method minmax|percentile|mse, percentile, per_channel, samples, input_range)",
        |o| Ok(Box::new(QuantizeInt8::from_options(o)?)),
    );
    r.register(
        Autodiff::NAME,
        "replace the forward graph by one SGD training step: softmax cross-entropy loss on its logits, backward ops, momentum and weight-decay update (options: learning_rate, momentum, weight_decay)",
        |o| Ok(Box::new(Autodiff::from_options(o)?)),
    );
    r.register(
        QuantizeFp8::NAME,
        "FP8 post-training quantization of conv and gemm weights and data (synthetic calibration in pipelines; options: format e4m3|e5m2, activations, per_channel, weight_scaling amax|mse, method, percentile, samples, input_range)",
        |o| Ok(Box::new(QuantizeFp8::from_options(o)?)),
    );
    r.register(
        NoiseAnalysis::NAME,
        "analysis, graph unchanged: information bounds of a binary network whose neurons flip with probability flip_prob (per-layer percolation and Evans-Schulman bounds, minimum width by Fano; options: flip_prob, classes, target_error)",
        |o| Ok(Box::new(NoiseAnalysis::from_options(o)?)),
    );
    r
}

/// The default pipeline, parsed.
pub fn default_pipeline() -> PipelineSpec {
    PipelineSpec::from_yaml(DEFAULT_PIPELINE).expect("the bundled default pipeline is valid")
}
