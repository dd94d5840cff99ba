//! Recurrent layers against their references (`testdata/recurrent/`, written by
//! tools/make_testdata.py's `recurrent` section): ONNX RNN / GRU / LSTM models against
//! onnxruntime, TFLite UNIDIRECTIONAL_SEQUENCE_LSTM against LiteRT (f32, within 1e-4)
//! and TFLite Micro (int8, bit-exact); and the importer's refusals of what TFLite
//! Micro's kernel does not support.

mod common;

use common::litert::{available, testdata_dir};
use common::{allclose, max_abs_diff, read_npy};
use nnopt_compiler::interp;
use nnopt_formats::onnx::import_onnx_bytes;
use nnopt_formats::tflite::import_tflite_bytes;
use serde_json::Value;

fn index(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn onnx_recurrent_models_match_onnxruntime() {
    let dir = testdata_dir().join("recurrent/onnx");
    if !available(&dir.join("index.json")) {
        return;
    }
    let meta = index(&dir.join("index.json"));
    let models = meta["models"].as_array().expect("models");
    assert!(models.len() >= 9, "{meta}");
    for m in models {
        let name = m["name"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        let g = import_onnx_bytes(&bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs: Vec<_> = (0..g.inputs().len())
            .map(|j| read_npy(&dir.join(format!("{name}.input_{j}.npy"))))
            .collect();
        let got = interp::run(&g, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len() as u64, m["outputs"].as_u64().unwrap(), "{name}");
        for (j, t) in got.iter().enumerate() {
            let want = read_npy(&dir.join(format!("{name}.output_{j}.npy")));
            allclose(t, &want, 1e-4, 1e-5).unwrap_or_else(|e| panic!("{name} output {j}: {e}"));
        }
        println!("{name}: {} outputs match onnxruntime", got.len());
    }
}

#[test]
fn tflite_lstm_matches_litert_and_tflite_micro() {
    let dir = testdata_dir().join("recurrent/tflite");
    if !available(&dir.join("index.json")) {
        return;
    }
    let meta = index(&dir.join("index.json"));
    let cases = meta.as_object().expect("cases");
    let int8 = cases.values().filter(|c| c["int8"] == true).count();
    assert!(int8 >= 4 && cases.len() >= 6, "{meta}");
    for (name, case) in cases {
        let cdir = dir.join(name);
        let bytes = std::fs::read(cdir.join("model.tflite")).unwrap();
        let g = import_tflite_bytes(&bytes, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let x = read_npy(&cdir.join("input.npy"));
        let want = read_npy(&cdir.join("output.npy"));
        let got = interp::run(&g, &[x]).unwrap_or_else(|e| panic!("{name}: {e}"));
        if case["int8"] == true {
            assert_eq!(got[0], want, "{name}: differs from TFLite Micro");
            println!("{name}: bit-exact with TFLite Micro");
        } else {
            let d = max_abs_diff(&got[0], &want).expect("same shape");
            assert!(d <= 1e-4, "{name}: max |diff| {d:e} from LiteRT");
            println!("{name}: max |diff| {d:.2e} from LiteRT");
        }
    }
}

#[test]
fn tflite_lstm_options_outside_tflite_micro_are_refused_by_name() {
    let dir = testdata_dir().join("recurrent/tflite-refused");
    if !available(&dir.join("index.json")) {
        return;
    }
    let meta = index(&dir.join("index.json"));
    for (name, reason) in meta.as_object().expect("cases") {
        let bytes = std::fs::read(dir.join(format!("{name}.tflite"))).unwrap();
        let e = import_tflite_bytes(&bytes, name)
            .expect_err(name)
            .to_string();
        let reason = reason.as_str().unwrap();
        assert!(
            e.contains("UNIDIRECTIONAL_SEQUENCE_LSTM") && e.contains(reason),
            "{name}: {e}"
        );
    }
}
