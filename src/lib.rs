//! nnopt: a compiler for edge ML models.
//!
//! The library is the driver behind the `nnopt` command, for build systems and tools:
//! [`load_model`], [`optimize`], [`compile()`] (NPU binaries), [`run`] (the reference
//! interpreter), [`quantize()`], [`export`] (ONNX, TFLite, IR text) and [`inspect`].
//!
//! ```no_run
//! use std::path::Path;
//! let mut g = nnopt::load_model(Path::new("model.onnx"))?;
//! nnopt::optimize(&mut g, None, &Default::default())?;
//! let summary = nnopt::summary::summarize(&g);
//! println!("{} MACs", summary.macs);
//! # Ok::<(), nnopt::Error>(())
//! ```

mod api;
pub mod batch;
pub mod calibration;
pub mod compare;
pub mod compile;
pub mod compress;
pub mod costmodel;
pub mod diagnostics;
pub mod firmware;
pub mod fixynn;
pub mod flower;
pub mod learned_opt;
pub mod model_inputs;
pub mod noise;
pub mod npub;
pub mod npy;
pub mod output;
pub mod predict;
pub mod progress;
pub mod quantize;
pub mod report;
pub mod run_report;
pub mod runner;
pub mod summary;

pub use api::{compile, export, inspect, quantize, run, Inspection, ModelFormat};
pub use nnopt_backends as backends;
pub use nnopt_compiler as compiler;
pub use nnopt_compiler::{Error, Result};
pub use nnopt_formats as formats;
pub use nnopt_passes as passes;
pub use nnopt_train as train;
pub use nnopt_udc as udc;

use nnopt_compiler::cost::{DefaultCost, OpCost};
use nnopt_compiler::ir::{text, verify, Graph};
use nnopt_compiler::pass::{PassRecord, Pipeline, PipelineSpec, Registry, RunOptions};
use std::path::Path;
use std::sync::Arc;

/// File extension of the IR text form.
pub const IR_EXTENSION: &str = "nnir";

/// Loads an ONNX or TFLite model, or an IR text file (`.nnir`), and verifies it.
pub fn load_model(path: &Path) -> Result<Graph> {
    let g = if path.extension().is_some_and(|e| e == IR_EXTENSION) {
        let src = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
        text::parse_graph(&src).map_err(|e| e.in_file(path))?
    } else {
        reject_nnopt_binaries(path)?;
        nnopt_formats::import_model(path)?
    };
    verify(&g).map_err(|e| e.in_file(path))?;
    if g.outputs().is_empty() {
        return Err(Error::new("the model has no outputs").in_file(path));
    }
    Ok(g)
}

/// Rejects nnopt's own binaries given where a model is expected, saying what takes them.
fn reject_nnopt_binaries(path: &Path) -> Result<()> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|f| f.take(4).read(&mut head));
    let what = match (read, &head) {
        (Ok(4), m) if m == nnopt_backends::npu::binary::MAGIC => {
            "an NPU binary (.npub), not a model: `nnopt run` and `nnopt inspect` take it; \
             compile the model it came from instead"
        }
        (Ok(4), m) if m == nnopt_train::binary::MAGIC => {
            "a training program (.ntp), not a model: `nnopt fl simulate --program` and \
             `nnopt inspect` take it"
        }
        _ => return Ok(()),
    };
    Err(Error::new(format!("this file is {what}")).in_file(path))
}

/// Reads a pipeline file, or returns the default pipeline.
pub fn pipeline_spec(path: Option<&Path>) -> Result<PipelineSpec> {
    match path {
        None => Ok(nnopt_passes::default_pipeline()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Error::new(format!("cannot read: {e}")).in_file(p))?;
            PipelineSpec::from_yaml(&text).map_err(|e| e.in_file(p))
        }
    }
}

/// Every pass a pipeline can name: the optimization passes (`egraph-optimize`
/// extracting by `cost`), `udc-search`, whose budget is `nnopt compile`'s encoded
/// weight bytes, and `fixynn-partition`.
pub fn registry(cost: Arc<dyn OpCost>) -> Registry {
    let mut registry = nnopt_passes::registry_with_cost(cost);
    registry.register(
        nnopt_udc::UdcSearch::NAME,
        nnopt_udc::UdcSearch::DESCRIPTION,
        |o| {
            let oracle: nnopt_udc::SharedOracle = Arc::new(compress::weight_blocks);
            Ok(Box::new(nnopt_udc::UdcSearch::from_options(o, oracle)?))
        },
    );
    registry.register(
        nnopt_fixynn::FixynnPartition::NAME,
        nnopt_fixynn::FixynnPartition::DESCRIPTION,
        |o| Ok(Box::new(nnopt_fixynn::FixynnPartition::from_options(o)?)),
    );
    registry
}

/// Runs a pipeline (the default one when `pipeline` is `None`) over the graph; the
/// e-graph optimizer extracts by the target-independent default cost.
pub fn optimize(
    g: &mut Graph,
    pipeline: Option<&Path>,
    opts: &RunOptions,
) -> Result<Vec<PassRecord>> {
    optimize_with_cost(g, pipeline, opts, Arc::new(DefaultCost))
}

/// Like [`optimize`], with the e-graph optimizer extracting by `cost` (for instance
/// [`backends::npu::cost::NpuCost`], the NPU's performance model).
pub fn optimize_with_cost(
    g: &mut Graph,
    pipeline: Option<&Path>,
    opts: &RunOptions,
    cost: Arc<dyn OpCost>,
) -> Result<Vec<PassRecord>> {
    let spec = pipeline_spec(pipeline)?;
    let registry = registry(cost);
    let p = Pipeline::from_spec(&spec, &registry).map_err(|e| match pipeline {
        Some(path) => e.in_file(path),
        None => e,
    })?;
    let records = p.run(g, opts)?;
    *g = g.compacted();
    Ok(records)
}
