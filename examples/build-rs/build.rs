//! Compiles the model (`NNOPT_MODEL`, default: the bundled int8 digits CNN) for the NPU
//! with the nnopt library and writes `OUT_DIR/model.npub` and `OUT_DIR/model.rs`, which
//! holds the figures the firmware needs as constants.

use nnopt::backends::npu::target::Target;
use nnopt::compile::NpuOptions;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo::rerun-if-env-changed=NNOPT_MODEL");
    let model = match std::env::var_os("NNOPT_MODEL") {
        Some(m) => PathBuf::from(m),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/digits_cnn_int8.tflite"),
    };
    println!("cargo::rerun-if-changed={}", model.display());
    let graph = nnopt::load_model(&model)?;
    let options = NpuOptions {
        target: Target::preset("npu")?,
        precision: Default::default(),
        cpu_fallback: true,
        calibration: Default::default(),
        pipeline: None,
    };
    let compiled = nnopt::compile(graph, &options)?;
    // The figures come from the firmware runtime itself.
    let rt = nnopt_rt_figures(&compiled.binary)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("model.npub"), &compiled.binary)?;
    std::fs::write(out.join("model.rs"), rt)?;
    Ok(())
}

/// `model.rs`: the arena size and each input's and output's bytes, from loading the
/// binary in the firmware runtime itself.
fn nnopt_rt_figures(binary: &[u8]) -> Result<String, Box<dyn std::error::Error>> {
    let m = nnopt_rt::Model::load(binary).map_err(|e| format!("nnopt-rt: {e}"))?;
    let inputs: Vec<usize> = (0..m.num_inputs())
        .filter_map(|i| m.input(i))
        .map(|t| t.size)
        .collect();
    let outputs: Vec<usize> = (0..m.num_outputs())
        .filter_map(|i| m.output(i))
        .map(|t| t.size)
        .collect();
    Ok(format!(
        "/// Bytes of arena the model needs.\npub const ARENA_SIZE: usize = {};\n/// Bytes of each input.\npub const INPUT_BYTES: [usize; {}] = {inputs:?};\n/// Bytes of each output.\npub const OUTPUT_BYTES: [usize; {}] = {outputs:?};\n",
        m.arena_size(),
        inputs.len(),
        outputs.len(),
    ))
}
