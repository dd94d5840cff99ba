//! One-operator TFLite models (BATCH_MATMUL, ARG_MAX/ARG_MIN, CUMSUM, GATHER_ND, GELU,
//! SQUARED_DIFFERENCE, RSQRT, EXP; float32 and int8, over their options) against their references (`testdata/tflite_ops/`,
//! written by tools/make_testdata.py): float32 within 1e-4 of LiteRT, int8 bit-exact with
//! TFLite Micro's reference kernels (LiteRT's BUILTIN_REF kernels where TFLite Micro has
//! no kernel for the case; meta.json names the reference). Each imported graph is also
//! exported to TFLite and read back, and must give the same output. One case is a whole
//! MediaPipe-style model (float16 weights, sparse weights through DENSIFY, GELU).

mod common;

use common::litert::{available, testdata_dir};
use common::{allclose, read_npy};
use nnopt_compiler::interp;
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_formats::tflite::schema as fb;
use nnopt_formats::tflite::{export_tflite, import_tflite_bytes};
use std::collections::BTreeMap;

#[test]
fn tflite_ops_match_litert_and_tflite_micro() {
    let dir = testdata_dir().join("tflite_ops");
    if !available(&dir.join("meta.json")) {
        return;
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let cases = meta["cases"].as_array().expect("cases");
    assert!(cases.len() >= 53, "{} cases", cases.len());
    let mut failures = Vec::new();
    let mut passed: BTreeMap<String, usize> = BTreeMap::new();
    let mut worst_f32: BTreeMap<&str, f32> = BTreeMap::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let reference = case["reference"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(format!("{name}.tflite"))).unwrap();
        let g = match import_tflite_bytes(&bytes, name) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{name}: import: {e}"));
                continue;
            }
        };
        let files = |key: &str| -> Vec<_> {
            case[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| read_npy(&dir.join(f.as_str().unwrap())))
                .collect()
        };
        let (inputs, want) = (files("inputs"), files("outputs"));
        let got = match interp::run(&g, &inputs) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("{name}: run: {e}"));
                continue;
            }
        };
        let verdict = if case["dtype"] == "f32" {
            if let (Some(a), Some(b)) = (got[0].as_f32(), want[0].as_f32()) {
                let d = a
                    .iter()
                    .zip(b.iter())
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max);
                let worst = worst_f32.entry(case["op"].as_str().unwrap()).or_default();
                *worst = worst.max(d);
            }
            allclose(&got[0], &want[0], 1e-4, 1e-4)
        } else if got[0] == want[0] {
            Ok(())
        } else {
            Err(format!("not bit-exact: {:?} vs {:?}", got[0], want[0]))
        };
        let verdict = verdict.and_then(|()| round_trip(&g, &inputs, &got));
        match verdict {
            Ok(()) => {
                *passed
                    .entry(format!("{} ({reference})", case["op"].as_str().unwrap()))
                    .or_default() += 1
            }
            Err(e) => failures.push(format!("{name} vs {reference}: {e}")),
        }
    }
    println!("passed: {passed:?}");
    println!("largest float32 difference from LiteRT: {worst_f32:?}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Exports `g` as TFLite, imports it again and checks that it computes `want` bit for bit.
fn round_trip(g: &Graph, inputs: &[Tensor], want: &[Tensor]) -> Result<(), String> {
    let bytes = export_tflite(g).map_err(|e| format!("export: {e}"))?;
    let back = import_tflite_bytes(&bytes, "round_trip").map_err(|e| format!("re-import: {e}"))?;
    let got = interp::run(&back, inputs).map_err(|e| format!("re-import run: {e}"))?;
    if got != want {
        return Err(format!("the exported model differs: {got:?} vs {want:?}"));
    }
    Ok(())
}

/// The MediaPipe-style case holds what it stands for: float16 weights behind DEQUANTIZE,
/// sparse ones behind DENSIFY; the import folds both into f32 constants, so the graph
/// computes with no conversion left (its outputs are checked against LiteRT above).
#[test]
fn mediapipe_style_weights_fold_to_constants() {
    let dir = testdata_dir().join("tflite_ops");
    let path = dir.join("mediapipe_style_f16_sparse_f32.tflite");
    if !available(&path) {
        return;
    }
    let bytes = std::fs::read(&path).unwrap();
    let model = fb::root_as_model(&bytes).expect("valid flatbuffer");
    let codes: Vec<_> = model
        .operator_codes()
        .expect("operator codes")
        .iter()
        .map(|c| c.builtin_code())
        .collect();
    let tensors = model
        .subgraphs()
        .expect("subgraphs")
        .get(0)
        .tensors()
        .unwrap();
    let sparse = tensors.iter().filter(|t| t.sparsity().is_some()).count();
    let f16 = tensors
        .iter()
        .filter(|t| t.type_() == fb::TensorType::FLOAT16)
        .count();
    assert!(codes.contains(&fb::BuiltinOperator::DENSIFY));
    assert!(codes.contains(&fb::BuiltinOperator::DEQUANTIZE));
    assert_eq!((sparse, f16), (2, 7));
    let g = import_tflite_bytes(&bytes, "mediapipe_style").expect("import");
    let ops: Vec<&str> = g
        .node_indices()
        .into_iter()
        .filter(|&n| !g.node(n).op.is_source())
        .map(|n| g.node(n).op.name())
        .collect();
    assert!(
        !ops.iter().any(|&o| o == "dequantize" || o == "cast"),
        "{ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|&&o| o == "conv" || o == "gemm").count(),
        3,
        "{ops:?}"
    );
}
