//! Snapshots of the NPU lowering: the schedule of an int8 model after the default
//! optimization pipeline (its e-graph extracting by the NPU cost), as `nnopt compile
//! --target npu` lowers it.

#[path = "../../formats/tests/common/mod.rs"]
mod common;

use common::litert::{available, models_dir};
use nnopt_backends::npu::cost::NpuCost;
use nnopt_backends::npu::target::Target;
use nnopt_backends::npu::{self, print, LowerOptions};
use nnopt_compiler::pass::{Pipeline, RunOptions};
use nnopt_formats::import_model;
use std::sync::Arc;

#[test]
fn lowering_snapshot() {
    let path = models_dir().join("micro_speech_quantized.tflite");
    if !available(&path) {
        return;
    }
    let mut g = import_model(&path).expect("imports");
    let target = Target::preset("npu").expect("default target");
    let registry = nnopt_passes::registry_with_cost(Arc::new(NpuCost::new(target.clone())));
    let pipeline = Pipeline::from_spec(&nnopt_passes::default_pipeline(), &registry)
        .expect("default pipeline");
    pipeline
        .run(&mut g, &RunOptions::default())
        .expect("optimizes");
    let g = g.compacted();
    let c = npu::compile(&g, &target, &LowerOptions::default()).expect("compiles");
    insta::assert_snapshot!(print::schedule(&c.program).join("\n"));
}
