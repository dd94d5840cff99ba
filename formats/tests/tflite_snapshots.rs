//! Snapshots of imported TFLite graphs (summary form), reviewed by hand.

mod common;

use common::litert::{available, models_dir};
use nnopt_compiler::ir::text::{print_graph, PrintOptions};
use nnopt_formats::tflite::import_tflite_bytes;

fn snapshot_of(rel: &str) -> Option<String> {
    let path = models_dir().join(rel);
    if !available(&path) {
        return None;
    }
    let bytes = std::fs::read(&path).expect("readable");
    let g = import_tflite_bytes(&bytes, "model").expect("imports");
    Some(print_graph(&g, &PrintOptions::summary()))
}

#[test]
fn hello_world_int8_ir() {
    if let Some(s) = snapshot_of("hello_world_int8.tflite") {
        insta::assert_snapshot!(s);
    }
}

#[test]
fn digits_cnn_int8_ir() {
    if let Some(s) = snapshot_of("generated/digits_cnn_int8.tflite") {
        insta::assert_snapshot!(s);
    }
}
