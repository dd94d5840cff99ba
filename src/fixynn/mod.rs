//! FixyNN end to end: the split search, the hard-wired front-end's RTL and its
//! simulation and synthesis, the programmable back-ends, and the output directory that
//! ties them (`manifest.json`).

pub mod simulate;

use nnopt_backends::fixed_frontend::{generate, testbench, FixedFrontend};
use nnopt_compiler::{Error, Result};
use std::path::Path;

/// Writes the front-end's Verilog (layers, top, testbench) into `dir`; returns the file
/// names.
pub fn write_rtl(dir: &Path, fe: &FixedFrontend) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::new(format!("cannot create: {e}")).in_file(dir))?;
    let mut files = generate(fe);
    files.push(("fe_tb.v".to_string(), testbench(fe)));
    for (name, text) in &files {
        crate::output::write_atomically(&dir.join(name), text.as_bytes())?;
    }
    Ok(files.into_iter().map(|f| f.0).collect())
}
