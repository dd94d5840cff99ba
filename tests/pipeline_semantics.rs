//! The default pipeline (with its e-graph optimizer extracting by the default cost and by
//! the NPU's cycles) preserves what models compute: float models within 1e-5 relative,
//! quantized models bit-exactly, on the generated ONNX models and the shared TFLite models.

mod common;

use common::*;
use nnopt::backends::npu::cost::NpuCost;
use nnopt::backends::npu::target::Target;
use nnopt::compiler::cost::{DefaultCost, OpCost};
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use std::path::Path;
use std::sync::Arc;

fn max_rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let (a, b) = (a.to_f64_vec(), b.to_f64_vec());
    let scale = b.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// Checks the default pipeline with the e-graph optimizer extracting by the default cost
/// and by the NPU's cycles; returns the worst relative error.
fn check_model(path: &Path, inputs: &[Tensor]) -> Result<f64, String> {
    let costs: [Arc<dyn OpCost>; 2] = [
        Arc::new(DefaultCost),
        Arc::new(NpuCost::new(Target::preset("npu").expect("preset"))),
    ];
    let mut worst = 0f64;
    for cost in costs {
        let name = cost.name().to_string();
        let e = check_model_with(path, inputs, cost).map_err(|e| format!("cost {name}: {e}"))?;
        worst = worst.max(e);
    }
    Ok(worst)
}

fn check_model_with(path: &Path, inputs: &[Tensor], cost: Arc<dyn OpCost>) -> Result<f64, String> {
    let g: Graph = nnopt::load_model(path).map_err(|e| e.to_string())?;
    let before = interp::run(&g, inputs).map_err(|e| format!("before: {e}"))?;
    let mut opt = g.clone();
    let opts = nnopt::compiler::pass::RunOptions {
        verify: true,
        ..Default::default()
    };
    nnopt::optimize_with_cost(&mut opt, None, &opts, cost).map_err(|e| e.to_string())?;
    let after = interp::run(&opt, inputs).map_err(|e| format!("after: {e}"))?;
    let mut worst = 0f64;
    for (b, a) in before.iter().zip(&after) {
        if b.dtype().is_float() {
            worst = worst.max(max_rel_err(a, b));
        } else if a != b {
            return Err("quantized outputs changed".into());
        }
    }
    if worst > 1e-5 {
        return Err(format!("max relative error {worst:e} > 1e-5"));
    }
    Ok(worst)
}

#[test]
fn default_pipeline_preserves_generated_onnx_models() {
    let Some(dir) = require(&testdata().join("onnx/models")) else {
        return;
    };
    let models = onnx_files(&dir);
    let mut failures = vec![];
    for m in &models {
        let stem = m.file_stem().expect("stem").to_string_lossy().into_owned();
        let inputs: Vec<Tensor> = (0..)
            .map(|k| dir.join(format!("{stem}.input_{k}.npy")))
            .take_while(|p| p.exists())
            .map(|p| nnopt::npy::read_npy(&p).expect("input reads"))
            .collect();
        match check_model(m, &inputs) {
            Ok(e) => println!("{stem:<24} max rel err {e:.2e}"),
            Err(e) => failures.push(format!("{stem}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn default_pipeline_preserves_shared_tflite_models() {
    let Some(refs) = require(&testdata().join("litert")) else {
        return;
    };
    let models = [
        "hello_world_int8",
        "micro_speech_quantized",
        "generated/digits_cnn_int8",
        "generated/digits_cnn_float",
        "generated/mobilenet_v2_035_96_int8",
        "face_detection_short_range",
        "iris_landmark",
    ];
    let mut failures = vec![];
    for m in models {
        let stem = Path::new(m)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let Some(x) = require(&refs.join(&stem).join("input_0.npy")) else {
            continue;
        };
        let input = nnopt::npy::read_npy(&x).expect("input reads");
        match check_model(&shared().join(format!("models/{m}.tflite")), &[input]) {
            Ok(e) => println!("{stem:<32} max rel err {e:.2e}"),
            Err(e) => failures.push(format!("{stem}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
