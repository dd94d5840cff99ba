//! Runs the model build.rs compiled (embedded with `include_bytes!`) with nnopt-rt:
//! reads each input's raw bytes from stdin, writes each output's raw bytes to stdout.
//! The arena is a fixed-size array whose size build.rs took from the runtime.

use std::io::{Read, Write};

mod model {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}

/// The `.npub` binary, in the program's read-only data.
static MODEL: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model.npub"));

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let m = nnopt_rt::Model::load(MODEL).map_err(|e| format!("load: {e}"))?;
    let mut arena = [0u8; model::ARENA_SIZE];
    let mut inputs = model::INPUT_BYTES.map(|n| vec![0u8; n]);
    let mut outputs = model::OUTPUT_BYTES.map(|n| vec![0u8; n]);
    for x in &mut inputs {
        std::io::stdin().read_exact(x)?;
    }
    let ins: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<&mut [u8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    m.run(&mut arena, &ins, &mut outs)
        .map_err(|e| format!("run: {e}"))?;
    let mut stdout = std::io::stdout().lock();
    for y in &outputs {
        stdout.write_all(y)?;
    }
    Ok(())
}
