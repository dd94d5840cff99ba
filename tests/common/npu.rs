//! Shared pieces of the NPU and firmware tests: the shared int8 models, default compile
//! options, seeded inputs, and running a program on raw bytes.

use super::lcg_step;
use nnopt::backends::npu::target::Target;
use nnopt::compile::NpuOptions;
use nnopt::compiler::ir::{DType, Graph, Tensor};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The shared int8 models (under `../shared/models/`, without `.tflite`).
pub const INT8_MODELS: &[&str] = &[
    "hello_world_int8",
    "keyword_scrambled_8bit",
    "micro_speech_quantized",
    "person_detect",
    "generated/digits_cnn_int8",
    "generated/mobilenet_v2_035_96_int8",
];

/// NPU compile options: the `npu` preset, int8, CPU fallback on, defaults otherwise.
pub fn npu_options() -> NpuOptions {
    NpuOptions {
        target: Target::preset("npu").unwrap(),
        precision: Default::default(),
        cpu_fallback: true,
        calibration: Default::default(),
        pipeline: None,
    }
}

/// Seeded inputs over each input type's full integer range (floats in [-1, 1)).
pub fn seeded_inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut s = seed;
    let mut next = move || lcg_step(&mut s) >> 33;
    g.inputs()
        .iter()
        .map(|&n| {
            let ty = &g.node(n).outputs[0].ty;
            let count: usize = ty.shape.iter().product();
            let v: Vec<f64> = (0..count)
                .map(|_| match ty.dtype.int_range() {
                    Some((lo, hi)) if ty.dtype != DType::I32 => {
                        lo as f64 + (next() % (hi - lo + 1) as u64) as f64
                    }
                    _ => (next() % 2000) as f64 / 1000.0 - 1.0,
                })
                .collect();
            Tensor::from_f64s(ty.dtype, &ty.shape, &v).unwrap()
        })
        .collect()
}

/// Runs `exe` with `stdin`, fails the test if it fails, and returns its stdout.
pub fn run_with_stdin(exe: &Path, stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}: {:?} {}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The cargo target directory the running test binary was built in.
pub fn target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// A `cargo` command (the one running the tests, if known).
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// The seeded input of a one-input model.
pub fn single_input(model: &Path, seed: u64) -> Tensor {
    let g = nnopt::load_model(model).unwrap();
    assert_eq!(
        g.inputs().len(),
        1,
        "{}: one input expected",
        model.display()
    );
    seeded_inputs(&g, seed).remove(0)
}
