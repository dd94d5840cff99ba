//! keyword_scrambled_8bit.tflite (int16 input, int8 SVDF layers with int8 state, int8 ->
//! int16 softmax) against TFLite Micro's reference kernels, tensor by tensor: every
//! operator output and every SVDF's next state after one step from reset state
//! (`testdata/tflm/`, written by tools/make_testdata.py with the `tflite-micro` wheel).

mod common;

use common::litert::{available, models_dir, testdata_dir};
use common::read_npy;
use nnopt_compiler::interp;
use nnopt_compiler::ir::{Graph, ValueRef};
use nnopt_formats::tflite::import_tflite_bytes;
use std::collections::BTreeMap;

/// The value named `name` (imported TFLite tensors are named `tensor_I`).
fn value_named(g: &Graph, name: &str) -> ValueRef {
    g.node_indices()
        .into_iter()
        .flat_map(|n| (0..g.node(n).outputs.len()).map(move |output| ValueRef { node: n, output }))
        .find(|&v| g.value(v).name == name)
        .unwrap_or_else(|| panic!("the imported graph has no value '{name}'"))
}

#[test]
fn keyword_scrambled_matches_tflite_micro_tensor_by_tensor() {
    let model = models_dir().join("keyword_scrambled_8bit.tflite");
    let dir = testdata_dir().join("tflm/keyword_scrambled_8bit");
    if !available(&model) || !available(&dir.join("meta.json")) {
        return;
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let names: BTreeMap<String, String> =
        serde_json::from_value(meta["tensors"].clone()).expect("tensor names");
    let cases: Vec<String> = serde_json::from_value(meta["cases"].clone()).expect("cases");
    assert!(cases.len() >= 4 && names.len() >= 20, "{meta}");
    let mut g = import_tflite_bytes(&std::fs::read(&model).unwrap(), "keyword_scrambled_8bit")
        .expect("SVDF imports");
    let (names, values): (Vec<&String>, Vec<ValueRef>) =
        names.values().map(|n| (n, value_named(&g, n))).unzip();
    g.set_outputs(values);
    let mut distinct_states = 0;
    for case in &cases {
        let x = read_npy(&dir.join(case).join("input.npy"));
        let got = interp::run(&g, &[x]).expect("the model runs");
        for (name, t) in names.iter().zip(&got) {
            let want = read_npy(&dir.join(case).join(format!("{name}.npy")));
            assert_eq!(t, &want, "{case}: {name} differs from TFLite Micro");
            if name.ends_with("_next") {
                let v = t.to_f64_vec();
                distinct_states += usize::from(v.iter().any(|&s| s != v[0]));
            }
        }
    }
    println!(
        "{} cases x {} tensors bit-exact with TFLite Micro",
        cases.len(),
        names.len()
    );
    // The states carry information (the outputs saturate on this scrambled model).
    assert!(distinct_states >= cases.len(), "{distinct_states}");
}
