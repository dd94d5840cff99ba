//! Runs a generated front-end's RTL on real inputs with Icarus Verilog or Verilator (as
//! subprocesses, in a scratch directory) and reads back the output pixels.

use nnopt_backends::fixed_frontend::{from_pixels, to_pixels, FixedFrontend};
use nnopt_compiler::ir::Tensor;
use nnopt_compiler::{Error, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Verilog simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simulator {
    Icarus,
    Verilator,
}

impl Simulator {
    pub fn name(self) -> &'static str {
        match self {
            Simulator::Icarus => "icarus",
            Simulator::Verilator => "verilator",
        }
    }
}

/// The Verilog sources of an RTL directory, in name order.
pub fn sources(rtl: &Path) -> Result<Vec<PathBuf>> {
    let read =
        std::fs::read_dir(rtl).map_err(|e| Error::new(format!("cannot read: {e}")).in_file(rtl))?;
    let mut files: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "v"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::new("no Verilog sources (.v)").in_file(rtl));
    }
    Ok(files)
}

/// Runs `cmd`, failing with its output when it fails or cannot start.
fn run(cmd: &mut Command, tool: &str, package: &str) -> Result<String> {
    let out = cmd.output().map_err(|e| {
        Error::new(format!(
            "cannot run {tool}: {e} (install the Debian package `{package}`)"
        ))
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::new(format!(
            "{tool} failed ({}):\n{}",
            out.status,
            tail.join("\n")
        )));
    }
    Ok(text)
}

/// Pixels as the testbench reads and writes them: a line a pixel in hex, channel 0 in the
/// lowest byte.
pub fn hex_lines(values: &[i8], channels: usize) -> String {
    let mut s = String::with_capacity(values.len() * 2 + values.len() / channels.max(1));
    for px in values.chunks(channels.max(1)) {
        for &v in px.iter().rev() {
            let _ = write!(s, "{:02x}", v as u8);
        }
        s.push('\n');
    }
    s
}

/// Simulates the front-end design in `rtl` with the testbench `tb` on `x` (the front-end
/// model's input) and returns its output as the front-end model would. `stall` drops
/// valid and ready at pseudo-random cycles.
pub fn simulate(
    rtl: &Path,
    tb: &Path,
    fe: &FixedFrontend,
    x: &Tensor,
    simulator: Simulator,
    stall: bool,
) -> Result<Tensor> {
    let (pixels, frames) = to_pixels(fe, x)?;
    let channels = fe.input_shape()[2];
    let hex = hex_lines(&pixels, channels);
    let scratch = tempfile::tempdir()
        .map_err(|e| Error::new(format!("cannot create a scratch directory: {e}")))?;
    let dir = scratch.path();
    let input = dir.join("input.hex");
    let output = dir.join("output.hex");
    std::fs::write(&input, hex)
        .map_err(|e| Error::new(format!("cannot write: {e}")).in_file(&input))?;
    let mut files = sources(rtl)?;
    files.push(tb.to_path_buf());
    let max_pixels = (pixels.len() / channels.max(1)).max(1);
    let args = [
        format!("+input={}", input.display()),
        format!("+output={}", output.display()),
        format!("+frames={frames}"),
        format!("+stall={}", u8::from(stall)),
    ];
    let log = match simulator {
        Simulator::Icarus => {
            let sim = dir.join("sim.vvp");
            run(
                Command::new("iverilog")
                    .args(["-g2005", "-s", "fe_tb"])
                    .arg(format!("-Pfe_tb.MAX_PIXELS={max_pixels}"))
                    .arg("-o")
                    .arg(&sim)
                    .args(&files),
                "iverilog",
                "iverilog",
            )?;
            run(
                Command::new("vvp").arg("-n").arg(&sim).args(&args),
                "vvp",
                "iverilog",
            )?
        }
        Simulator::Verilator => {
            let obj = dir.join("obj");
            run(
                Command::new("verilator")
                    .args([
                        "--binary",
                        "--timing",
                        "-Wno-fatal",
                        "-Wno-lint",
                        "-Wno-style",
                    ])
                    .args(["--top-module", "fe_tb", "-j", "0", "-O1"])
                    .arg(format!("-GMAX_PIXELS={max_pixels}"))
                    .arg("--Mdir")
                    .arg(&obj)
                    .args(&files),
                "verilator",
                "verilator",
            )?;
            run(
                Command::new(obj.join("Vfe_tb")).args(&args),
                "the Verilator model",
                "verilator",
            )?
        }
    };
    let text = std::fs::read_to_string(&output).unwrap_or_default();
    let [oh, ow, oc] = fe.output_shape();
    let expected = frames * oh * ow;
    let mut values = Vec::with_capacity(expected * oc);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let line = line.trim();
        if line.len() != oc * 2 || !line.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::new(format!(
                "the simulation wrote an unreadable pixel '{line}'"
            )));
        }
        let bytes: Vec<i8> = (0..oc)
            .map(|c| u8::from_str_radix(&line[c * 2..c * 2 + 2], 16).expect("hex checked") as i8)
            .collect();
        values.extend(bytes.into_iter().rev());
    }
    if values.len() != expected * oc {
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        return Err(Error::new(format!(
            "the {} simulation wrote {} of {expected} output pixels: {}",
            simulator.name(),
            values.len() / oc.max(1),
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )));
    }
    from_pixels(fe, &values, frames)
}
