//! Every generated model in `testdata/onnx/models/`: nnopt (import + reference
//! interpreter) against tract-onnx and against the stored onnxruntime outputs.
//!
//! Error metric: relative error `max|a - b| / max(max|b|, 1e-6)` per output, which must
//! be <= 1e-4 against both references.
//!
//! Run with `cargo test -p nnopt-formats --test onnx_vs_tract -- --nocapture` to see the
//! table.

mod common;

use nnopt_compiler::interp;
use nnopt_compiler::ir::Tensor;
use nnopt_formats::onnx::import_onnx_bytes;
use std::path::Path;
use tract_onnx::prelude::{Framework, InferenceModelExt, IntoRunnable};

const TOLERANCE: f64 = 1e-4;

fn to_tract(t: &Tensor) -> tract_onnx::prelude::Tensor {
    use tract_onnx::prelude::Tensor as T;
    let shape = t.shape();
    match t {
        Tensor::F32(a) => T::from_shape(shape, &a.iter().copied().collect::<Vec<_>>()),
        Tensor::I64(a) => T::from_shape(shape, &a.iter().copied().collect::<Vec<_>>()),
        Tensor::I32(a) => T::from_shape(shape, &a.iter().copied().collect::<Vec<_>>()),
        other => panic!("unsupported input dtype {}", other.dtype()),
    }
    .expect("shape matches data")
}

fn from_tract(t: &tract_onnx::prelude::Tensor) -> Tensor {
    use nnopt_compiler::ir::DType;
    let shape = t.shape().to_vec();
    let (dt, v): (DType, Vec<f64>) = if let Ok(a) = t.to_plain_array_view::<f32>() {
        (DType::F32, a.iter().map(|&x| x as f64).collect())
    } else if let Ok(a) = t.to_plain_array_view::<i64>() {
        (DType::I64, a.iter().map(|&x| x as f64).collect())
    } else {
        panic!("unsupported tract output dtype {:?}", t.datum_type())
    };
    Tensor::from_f64s(dt, &shape, &v).expect("length matches")
}

fn run_tract(path: &Path, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("{e:?}"))?;
    let outs = model
        .run(inputs.iter().map(|t| to_tract(t).into()).collect())
        .map_err(|e| format!("{e:?}"))?;
    Ok(outs.iter().map(|t| from_tract(t)).collect())
}

/// Files `NAME.KIND_K.npy` for K = 0, 1, ... while they exist.
fn numbered(dir: &Path, name: &str, kind: &str) -> Vec<Tensor> {
    (0..)
        .map(|k| dir.join(format!("{name}.{kind}_{k}.npy")))
        .take_while(|p| p.exists())
        .map(|p| common::read_npy(&p))
        .collect()
}

#[test]
fn generated_models_match_tract_and_onnxruntime() {
    let Some(dir) = common::testdata("onnx/models") else {
        return;
    };
    let mut models: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    assert!(!models.is_empty(), "no models in {}", dir.display());
    let mut failures = vec![];
    println!(
        "{:<22} {:>4} {:>14} {:>14}  status",
        "model", "outs", "vs tract", "vs ort"
    );
    for path in &models {
        let name = path.file_stem().unwrap().to_str().unwrap();
        let inputs = numbered(&dir, name, "input");
        let ort = numbered(&dir, name, "output");
        let ours = import_onnx_bytes(&std::fs::read(path).unwrap(), name)
            .and_then(|g| interp::run(&g, &inputs))
            .map_err(|e| e.to_string());
        let tract = run_tract(path, &inputs);
        let (ours, tract) = match (ours, tract) {
            (Ok(o), Ok(t)) => (o, t),
            (Err(e), _) => {
                println!(
                    "{name:<22} {:>4} {:>14} {:>14}  nnopt error: {e}",
                    ort.len(),
                    "-",
                    "-"
                );
                failures.push(format!("{name}: nnopt: {e}"));
                continue;
            }
            (_, Err(e)) => {
                println!(
                    "{name:<22} {:>4} {:>14} {:>14}  tract error: {e}",
                    ort.len(),
                    "-",
                    "-"
                );
                failures.push(format!("{name}: tract: {e}"));
                continue;
            }
        };
        let worst = |refs: &[Tensor]| -> Option<f64> {
            if refs.len() != ours.len() {
                return None;
            }
            ours.iter()
                .zip(refs)
                .map(|(a, b)| common::rel_err(a, b))
                .try_fold(0.0f64, |m, e| e.map(|e| m.max(e)))
        };
        let (vt, vo) = (worst(&tract), worst(&ort));
        let ok = vt.is_some_and(|e| e <= TOLERANCE) && vo.is_some_and(|e| e <= TOLERANCE);
        let show = |e: Option<f64>| e.map_or("shape/count".to_string(), |e| format!("{e:.3e}"));
        println!(
            "{name:<22} {:>4} {:>14} {:>14}  {}",
            ours.len(),
            show(vt),
            show(vo),
            if ok { "ok" } else { "FAIL" }
        );
        if !ok {
            failures.push(format!(
                "{name}: rel err vs tract {}, vs onnxruntime {}",
                show(vt),
                show(vo)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} models failed:\n{}",
        failures.len(),
        models.len(),
        failures.join("\n")
    );
}
