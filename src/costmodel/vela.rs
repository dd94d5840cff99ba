//! Labels from Arm's Vela compiler (`ethos-u-vela`): runs `vela` on a TFLite file for one
//! accelerator configuration and reads its summary CSV.

use nnopt_compiler::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// The accelerator configurations a dataset is labelled for by default.
pub const CONFIGS: &[&str] = &["ethos-u55-128", "ethos-u55-256", "ethos-u65-256"];

/// What Vela's summary says about one network on one configuration.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct VelaLabel {
    /// `cycles_total`: the estimated cycles of one inference.
    pub cycles: f64,
    /// `cycles_npu`: cycles of the NPU's compute alone.
    pub cycles_npu: f64,
    /// `inference_time` in seconds, at the configuration's clock.
    pub inference_time_s: f64,
    /// `sram_memory_used` in bytes (Vela reports KiB).
    pub sram_bytes: f64,
    /// Bytes read from and written to off-chip memory and flash.
    pub off_chip_bytes: f64,
    /// `nn_macs`.
    pub macs: f64,
    /// `total_npu_encoded_weights` in bytes.
    pub encoded_weight_bytes: f64,
    /// Vela's per-operator table (`--verbose-performance`), in schedule order.
    #[serde(default)]
    pub layers: Vec<VelaLayer>,
}

/// One row of Vela's per-operator performance table.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct VelaLayer {
    /// The TFLite tensor the operator writes (Vela's `Name` column).
    pub name: String,
    /// The TFLite operator (`Conv2D`, `Softmax`, ...).
    pub operator: String,
    /// The operation Vela lowered it to (`Conv2D`, `Relu`, `LUT`, `Passthrough`, ...).
    pub lowered: String,
    /// Whether it runs on the NPU (else the CPU).
    pub npu: bool,
    pub cycles: f64,
    pub macs: f64,
}

impl VelaLabel {
    /// Vela's cycles per operator named in `names`: each NPU row of the per-operator
    /// table goes to the operator whose name it carries, exactly or as a prefix followed
    /// by `_` (Vela names the parts it splits an operator into `NAME_intermediate`,
    /// `NAME_softmax_3`, ...), the longest such name; rows matching no name are left out.
    pub fn cycles_by_name(&self, names: &[&str]) -> Vec<f64> {
        let mut cycles = vec![0.0; names.len()];
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(k, &n)| (n, k)).collect();
        for l in self.layers.iter().filter(|l| l.npu) {
            let mut name = l.name.as_str();
            loop {
                if let Some(&k) = index.get(name) {
                    cycles[k] += l.cycles;
                    break;
                }
                match name.rfind('_') {
                    Some(cut) => name = &name[..cut],
                    None => break,
                }
            }
        }
        cycles
    }
}

/// Checks that `vela` runs, and returns its version.
pub fn version(vela: &Path) -> Result<String> {
    let run = Command::new(vela)
        .arg("--version")
        .output()
        .map_err(|e| cannot_run(vela, &e))?;
    if !run.status.success() {
        return Err(Error::new(format!(
            "{} --version failed: is it Arm's Vela?",
            vela.display()
        )));
    }
    Ok(String::from_utf8_lossy(&run.stdout).trim().to_string())
}

/// Runs `vela` (the executable at `vela`) on `model` for `config` in a scratch directory
/// under `scratch` and returns its summary.
pub fn label(vela: &Path, model: &Path, config: &str, scratch: &Path) -> Result<VelaLabel> {
    let out_dir = scratch.join(format!(
        "vela_{}_{config}",
        model.file_stem().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&out_dir);
    let run = Command::new(vela)
        .arg(model)
        .args([
            "--accelerator-config",
            config,
            "--verbose-performance",
            "--output-dir",
        ])
        .arg(&out_dir)
        .output()
        .map_err(|e| cannot_run(vela, &e))?;
    let result = if run.status.success() {
        read_summary(&out_dir).map(|mut label| {
            label.layers = parse_layers(&String::from_utf8_lossy(&run.stdout));
            label
        })
    } else {
        let stderr = String::from_utf8_lossy(&run.stderr);
        let message: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("File ") && !l.starts_with("Traceback"))
            .collect();
        let tail = message[message.len().saturating_sub(3)..].join(" / ");
        Err(Error::new(format!("Vela failed for {config}: {tail}")))
    };
    let _ = std::fs::remove_dir_all(&out_dir);
    result.map_err(|e| e.in_file(model))
}

/// The error when the `vela` executable does not start.
fn cannot_run(vela: &Path, e: &std::io::Error) -> Error {
    Error::new(format!(
        "cannot run Vela ({}): {e}; install it with `pip install ethos-u-vela` or give its \
         path with --vela",
        vela.display()
    ))
}

/// Reads the one `*_summary_*.csv` Vela wrote into `dir`.
fn read_summary(dir: &Path) -> Result<VelaLabel> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::new(format!("Vela wrote no output directory: {e}")))?;
    let summary = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("_summary_"))
        })
        .ok_or_else(|| Error::new("Vela wrote no summary CSV"))?;
    let text = std::fs::read_to_string(&summary)
        .map_err(|e| Error::new(format!("cannot read Vela's summary: {e}")))?;
    parse_summary(&text)
}

/// The label from the text of a summary CSV (a header line and one row).
pub fn parse_summary(text: &str) -> Result<VelaLabel> {
    let mut lines = text.lines();
    let (Some(header), Some(row)) = (lines.next(), lines.next()) else {
        return Err(Error::new("Vela's summary CSV has no data row"));
    };
    let fields: HashMap<&str, &str> = header.split(',').zip(row.split(',')).collect();
    let number = |key: &str| -> Result<f64> {
        fields
            .get(key)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .ok_or_else(|| Error::new(format!("Vela's summary CSV lacks a number for '{key}'")))
    };
    Ok(VelaLabel {
        cycles: number("cycles_total")?,
        cycles_npu: number("cycles_npu")?,
        inference_time_s: number("inference_time")?,
        sram_bytes: number("sram_memory_used")? * 1024.0,
        off_chip_bytes: number("off_chip_flash_total_bytes")? + number("dram_total_bytes")?,
        macs: number("nn_macs")?,
        encoded_weight_bytes: number("total_npu_encoded_weights")?,
        layers: Vec::new(),
    })
}

/// The rows of the per-operator tables in Vela's `--verbose-performance` output: after
/// each header line starting `Original Operator` and its dashed rule, until a blank line.
pub fn parse_layers(stdout: &str) -> Vec<VelaLayer> {
    let mut layers = Vec::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("Original Operator") {
            continue;
        }
        lines.next(); // the dashed rule
        for row in lines.by_ref() {
            let f: Vec<&str> = row.split_whitespace().collect();
            // Operator, lowered op, target, staging usage, peak %, cycles, network %, NPU
            // cycles, 4 memory access columns, MACs, network %, util %, name.
            if f.len() < 16 {
                break;
            }
            let number = |k: usize| f[k].parse::<f64>().unwrap_or(0.0);
            layers.push(VelaLayer {
                name: f[15..].join(" "),
                operator: f[0].to_string(),
                lowered: f[1].to_string(),
                npu: f[2] == "NPU",
                cycles: number(5),
                macs: number(12),
            });
        }
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_row_becomes_a_label() {
        let csv = "network,cycles_total,cycles_npu,inference_time,sram_memory_used,\
                   off_chip_flash_total_bytes,dram_total_bytes,nn_macs,total_npu_encoded_weights\n\
                   person_detect,299767,127348,0.000599534,72.734375,232912,0,7160196,205184\n";
        let l = parse_summary(csv).unwrap();
        assert_eq!(l.cycles, 299767.0);
        assert_eq!(l.sram_bytes, 72.734375 * 1024.0);
        assert_eq!(l.off_chip_bytes, 232912.0);
        assert!(parse_summary("network\nx\n").is_err());
    }

    #[test]
    fn the_performance_table_becomes_layers() {
        let out = "Performance for NPU Graph x\n\
Original Operator    NNG Operator         Target Staging Usage  Peak% (Staging)  Op Cycles Network% (cycles)        NPU    SRAM AC    DRAM AC OnFlash AC OffFlash AC  MAC Count Network% (MAC)  Util% (MAC) Name\n\
-------------------- -------------------- ------ ------------- ---------------- ---------- ----------------- ---------- ---------- ---------- ---------- ----------- ---------- -------------- ------------ ----\n\
Quantize             Passthrough          CPU                0             0.00          0              0.00          0          0          0          0           0          0           0.00       100.00 input_quant\n\
Conv2D               Conv2D               NPU             6496            40.16      12180             24.42      12180       1280          0          0        6736     249600          15.01         8.00 conv_3\n\
\n\
Network summary for x\n";
        let layers = parse_layers(out);
        assert_eq!(layers.len(), 2);
        assert!(!layers[0].npu);
        assert_eq!(layers[1].name, "conv_3");
        assert_eq!(layers[1].cycles, 12180.0);
        assert_eq!(layers[1].macs, 249600.0);
        assert_eq!(layers[1].lowered, "Conv2D");
    }
}
