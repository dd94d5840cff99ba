//! `--threads N` changes the speed, never the bits: `nnopt run` on stacked inputs (int8
//! and float models, the interpreter and the virtual NPU) and `nnopt quantize` with
//! calibration write byte-identical files with one, two and three worker threads.

mod common;

use common::{lcg_step, nnopt_ok, onnx_files, require, shared, tempdir, testdata};
use nnopt::compiler::ir::{DType, Tensor};
use std::path::Path;

/// Seeded inputs for every model input, `k` batches stacked along the first axis.
fn stacked_inputs(model: &Path, k: usize, dir: &Path) -> Vec<String> {
    let g = nnopt::load_model(model).expect("model loads");
    let mut state = 17u64;
    g.inputs()
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let ty = &g.node(n).outputs[0].ty;
            let mut shape = ty.shape.clone();
            shape[0] *= k;
            let len: usize = shape.iter().product();
            let mut next = || (lcg_step(&mut state) >> 33) as i64;
            let t = match ty.dtype {
                DType::I8 => Tensor::I8(
                    ndarray::ArrayD::from_shape_vec(
                        shape,
                        (0..len).map(|_| next() as i8).collect(),
                    )
                    .unwrap(),
                ),
                DType::F32 => Tensor::F32(
                    ndarray::ArrayD::from_shape_vec(
                        shape,
                        (0..len)
                            .map(|_| (next() % 2001 - 1000) as f32 / 500.0)
                            .collect(),
                    )
                    .unwrap(),
                ),
                other => panic!("{}: no generator for {other} inputs", model.display()),
            };
            let path = dir.join(format!("x{i}.npy"));
            nnopt::npy::write_npy(&path, &t).unwrap();
            path.to_str().unwrap().to_string()
        })
        .collect()
}

/// The bytes `nnopt run` writes for `model` on `inputs` with `threads` workers.
fn run_bytes(model: &Path, inputs: &[String], threads: usize, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("y_{threads}.npy"));
    let mut args = vec!["run", model.to_str().unwrap()];
    for x in inputs {
        args.extend(["--input", x.as_str()]);
    }
    let t = threads.to_string();
    args.extend(["--output", out.to_str().unwrap(), "--threads", &t]);
    nnopt_ok(&args);
    std::fs::read(&out).unwrap()
}

/// Checks `model` on `k` stacked batches of inputs shaped for `like` (the model itself,
/// or the source of an NPU binary).
fn assert_thread_independent(model: &Path, like: &Path, k: usize, dir: &Path) {
    let inputs = stacked_inputs(like, k, dir);
    let one = run_bytes(model, &inputs, 1, dir);
    for threads in [2, 3] {
        assert!(
            run_bytes(model, &inputs, threads, dir) == one,
            "{}: outputs differ between 1 and {threads} threads",
            model.display()
        );
    }
}

#[test]
fn run_outputs_do_not_depend_on_the_thread_count() {
    let Some(models) = require(&shared().join("models")) else {
        return;
    };
    let dir = tempdir();
    let int8 = models.join("generated/mobilenet_v2_035_96_int8.tflite");
    assert_thread_independent(&int8, &int8, 3, dir.path());
    let person = models.join("person_detect.tflite");
    assert_thread_independent(&person, &person, 3, dir.path());
    let npub = dir.path().join("m.npub");
    nnopt_ok(&[
        "compile",
        int8.to_str().unwrap(),
        "--target",
        "npu",
        "-o",
        npub.to_str().unwrap(),
    ]);
    assert_thread_independent(&npub, &int8, 3, dir.path());
    let Some(onnx) = require(&testdata().join("onnx/models")) else {
        return;
    };
    // One batch: some of these models reduce over the batch axis, so their outputs
    // do not stack.
    for model in onnx_files(&onnx) {
        assert_thread_independent(&model, &model, 1, dir.path());
    }
}

#[test]
fn calibration_does_not_depend_on_the_thread_count() {
    let Some(model) = require(&testdata().join("onnx/models/residual_block.onnx")) else {
        return;
    };
    let dir = tempdir();
    let cal = stacked_inputs(&model, 7, dir.path());
    let quantized = |threads: usize| {
        let out = dir.path().join(format!("q{threads}.nnir"));
        let t = threads.to_string();
        nnopt_ok(&[
            "quantize",
            model.to_str().unwrap(),
            "--format",
            "int8",
            "--calibration",
            &cal[0],
            "--calibration-method",
            "percentile",
            "--threads",
            &t,
            "-o",
            out.to_str().unwrap(),
        ]);
        std::fs::read(&out).unwrap()
    };
    let one = quantized(1);
    assert!(quantized(2) == one && quantized(3) == one);
}
