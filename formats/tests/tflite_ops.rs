//! One-operator TFLite models (BATCH_MATMUL, ARG_MAX/ARG_MIN, CUMSUM, GATHER_ND, GELU,
//! SQUARED_DIFFERENCE, RSQRT; float32 and int8, over their options) against their references (`testdata/tflite_ops/`,
//! written by tools/make_testdata.py): float32 within 1e-4 of LiteRT, int8 bit-exact with
//! TFLite Micro's reference kernels (LiteRT's BUILTIN_REF kernels where TFLite Micro has
//! no kernel for the case; meta.json names the reference). Each imported graph is also
//! exported to TFLite and read back, and must give the same output.

mod common;

use common::litert::{available, testdata_dir};
use common::{allclose, read_npy};
use nnopt_compiler::interp;
use nnopt_compiler::ir::{Graph, Tensor};
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
    assert!(cases.len() >= 49, "{} cases", cases.len());
    let mut failures = Vec::new();
    let mut passed: BTreeMap<String, usize> = BTreeMap::new();
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
