//! Logic synthesis of the front-end with Yosys (`synth; stat -tech cmos`, per layer): cell
//! counts and the CMOS transistor estimate, and an area and power derived from them under
//! stated assumptions.

use nnopt_compiler::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Transistors per mm² assumed for the area from Yosys' count: TSMC 16 nm FinFET logic
/// (28.88 MTr/mm²), the process of FixyNN's and DeepFreeze's figures.
pub const TRANSISTORS_PER_MM2: f64 = 28.88e6;
/// Watts per mm² of logic assumed for the power from Yosys' area: DeepFreeze's multiplier
/// power over its multiplier area (5.79e-8 W / 2.05e-7 mm² per bit) at 810 MHz.
pub const WATTS_PER_MM2: f64 = 5.79e-8 / 2.05e-7;

/// What Yosys says about a design, in total and per module synthesized.
#[derive(Clone, Debug, Serialize)]
pub struct Synthesis {
    pub cells: u64,
    /// Cells by type (`$_XOR_`, `$_DFFE_PP_`, …).
    pub cell_types: BTreeMap<String, u64>,
    /// `stat -tech cmos`'s estimate (a lower bound: Yosys prints it with a `+`).
    pub transistors: u64,
    /// `transistors / TRANSISTORS_PER_MM2`.
    pub area_mm2: f64,
    /// `area_mm2 × WATTS_PER_MM2`.
    pub power_w: f64,
    pub seconds: f64,
    pub modules: Vec<ModuleSynthesis>,
}

/// One module's synthesis.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleSynthesis {
    pub module: String,
    pub cells: u64,
    pub transistors: u64,
    pub seconds: f64,
}

/// Synthesizes each `(file, module)` on its own (one Yosys run each: synthesis and
/// technology mapping of a whole flattened front-end can take over 10 GB) and adds them
/// up. The modules must not instantiate each other.
pub fn synthesize(modules: &[(impl AsRef<Path>, &str)]) -> Result<Synthesis> {
    let start = Instant::now();
    let mut total = parse_stat("Number of cells: 0\nEstimated number of transistors: 0+\n")?;
    for (file, module) in modules {
        let one = synthesize_module(file.as_ref(), module)?;
        total.cells += one.cells;
        total.transistors += one.transistors;
        for (k, n) in &one.cell_types {
            *total.cell_types.entry(k.clone()).or_default() += n;
        }
        total.modules.push(ModuleSynthesis {
            module: module.to_string(),
            cells: one.cells,
            transistors: one.transistors,
            seconds: one.seconds,
        });
    }
    total.area_mm2 = total.transistors as f64 / TRANSISTORS_PER_MM2;
    total.power_w = total.area_mm2 * WATTS_PER_MM2;
    total.seconds = start.elapsed().as_secs_f64();
    Ok(total)
}

/// Synthesizes module `top` of `file`.
fn synthesize_module(file: &Path, top: &str) -> Result<Synthesis> {
    let start = Instant::now();
    if !top.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::new(format!("'{top}' is not a module name")));
    }
    let scratch = tempfile::tempdir()
        .map_err(|e| Error::new(format!("cannot create a scratch directory: {e}")))?;
    // Yosys' script language has no quoting: the source is copied under a plain name.
    std::fs::copy(file, scratch.path().join("design.v"))
        .map_err(|e| Error::new(format!("cannot read: {e}")).in_file(file))?;
    let script =
        format!("read_verilog design.v; synth -top {top}; tee -q -o stat.txt stat -tech cmos");
    let out = Command::new("yosys")
        .current_dir(scratch.path())
        .args(["-q", "-p", &script])
        .output()
        .map_err(|e| {
            Error::new(format!(
                "cannot run yosys: {e} (install the Debian package `yosys`)"
            ))
        })?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        return Err(Error::new(format!(
            "yosys failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
        .in_file(file));
    }
    let text = std::fs::read_to_string(scratch.path().join("stat.txt"))
        .map_err(|e| Error::new(format!("yosys wrote no statistics: {e}")).in_file(file))?;
    let mut s = parse_stat(&text).map_err(|e| e.in_file(file))?;
    s.seconds = start.elapsed().as_secs_f64();
    Ok(s)
}

/// Reads `stat -tech cmos` output of one module.
pub fn parse_stat(text: &str) -> Result<Synthesis> {
    let mut cells = None;
    let mut transistors = None;
    let mut cell_types = BTreeMap::new();
    let mut in_cells = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Number of cells:") {
            cells = v.trim().parse().ok();
            in_cells = true;
            continue;
        }
        if let Some(v) = t.strip_prefix("Estimated number of transistors:") {
            transistors = v.trim().trim_end_matches('+').parse().ok();
            in_cells = false;
            continue;
        }
        if in_cells {
            let mut parts = t.split_whitespace();
            match (
                parts.next(),
                parts.next().and_then(|n| n.parse::<u64>().ok()),
            ) {
                (Some(name), Some(n)) if parts.next().is_none() => {
                    cell_types.insert(name.to_string(), n);
                }
                _ => in_cells = false,
            }
        }
    }
    let (Some(cells), Some(transistors)) = (cells, transistors) else {
        return Err(Error::new(
            "yosys statistics without cell or transistor counts",
        ));
    };
    let area_mm2 = transistors as f64 / TRANSISTORS_PER_MM2;
    Ok(Synthesis {
        cells,
        cell_types,
        transistors,
        area_mm2,
        power_w: area_mm2 * WATTS_PER_MM2,
        seconds: 0.0,
        modules: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yosys_statistics() {
        let text = "=== fe_top ===\n\n   Number of wires:  11\n   Number of cells:  5\n     $_AND_  3\n     $_XOR_  2\n\n   Estimated number of transistors:  40+\n";
        let s = parse_stat(text).unwrap();
        assert_eq!((s.cells, s.transistors), (5, 40));
        assert_eq!(s.cell_types["$_XOR_"], 2);
        assert!(parse_stat("nothing").is_err());
    }
}
