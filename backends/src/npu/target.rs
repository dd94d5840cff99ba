//! NPU targets: the figures the compiler and the performance model plan with.
//!
//! Presets live in `backends/targets/*.yaml` (each figure documented there); `--target npu`
//! is `npu-256`. `npu-128`, `npu-256` and `npu-512` are ideal rooflines; `npu-u55-128`,
//! `npu-u55-256` and `npu-u65-256` are fitted to Vela's estimates for the Arm Ethos-U
//! configurations of those names by `nnopt costmodel calibrate`. A custom target is a YAML file of the same form (`--target-config`).

use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Per-operation energy constants (picojoules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    pub pj_per_int8_mac: f64,
    pub pj_per_fp8_mac: f64,
    pub pj_per_sram_byte: f64,
    pub pj_per_offchip_byte: f64,
}

/// The sustained share of a peak rate that each kind of work reaches (1 is the peak): of
/// the int8 (or FP8) MAC rate for convolutions and fully connected layers, of the
/// elementwise rate for the others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Utilization {
    /// Convolutions other than depthwise ones.
    pub conv: f64,
    /// Depthwise and other grouped convolutions.
    pub depthwise: f64,
    pub fully_connected: f64,
    /// Pooling (per value read).
    pub pool: f64,
    /// Reductions (per value read).
    pub reduce: f64,
    /// Binary elementwise ops.
    pub elementwise: f64,
    /// Table lookups, activations and requantizations.
    pub unary: f64,
    pub prelu: f64,
    pub resize: f64,
    pub softmax: f64,
    /// Concatenation and padding (per output element).
    pub copy: f64,
}

impl Default for Utilization {
    fn default() -> Self {
        Utilization {
            conv: 1.0,
            depthwise: 1.0,
            fully_connected: 1.0,
            pool: 1.0,
            reduce: 1.0,
            elementwise: 1.0,
            unary: 1.0,
            prelu: 1.0,
            resize: 1.0,
            softmax: 1.0,
            copy: 1.0,
        }
    }
}

impl Utilization {
    /// The YAML names of the shares, in field order.
    pub const NAMES: [&'static str; 11] = [
        "conv",
        "depthwise",
        "fully_connected",
        "pool",
        "reduce",
        "elementwise",
        "unary",
        "prelu",
        "resize",
        "softmax",
        "copy",
    ];

    /// The shares in the order of [`Utilization::NAMES`].
    pub fn values(&self) -> [f64; 11] {
        [
            self.conv,
            self.depthwise,
            self.fully_connected,
            self.pool,
            self.reduce,
            self.elementwise,
            self.unary,
            self.prelu,
            self.resize,
            self.softmax,
            self.copy,
        ]
    }

    /// Shares from values in the order of [`Utilization::NAMES`].
    pub fn from_values(v: [f64; 11]) -> Self {
        let [conv, depthwise, fully_connected, pool, reduce, elementwise, unary, prelu, resize, softmax, copy] =
            v;
        Utilization {
            conv,
            depthwise,
            fully_connected,
            pool,
            reduce,
            elementwise,
            unary,
            prelu,
            resize,
            softmax,
            copy,
        }
    }
}

/// The channel blocks the MAC array works on: a convolution's or fully connected layer's
/// channel counts are rounded up to them (1 and 1: every product counts once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MacBlock {
    pub out_channels: u64,
    pub in_channels: u64,
}

impl Default for MacBlock {
    fn default() -> Self {
        MacBlock {
            out_channels: 1,
            in_channels: 1,
        }
    }
}

/// An NPU configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    /// int8 multiply-accumulates per cycle.
    pub int8_macs_per_cycle: u64,
    /// FP8 multiply-accumulates per cycle.
    pub fp8_macs_per_cycle: u64,
    /// Elementwise / pooling output elements per cycle.
    pub elementwise_per_cycle: u64,
    pub clock_hz: u64,
    /// On-chip SRAM for the tensor arena.
    pub sram_bytes: u64,
    /// Off-chip read bandwidth (weights, spilled tensors).
    pub offchip_bytes_per_cycle: f64,
    /// On-chip SRAM bandwidth.
    pub sram_bytes_per_cycle: f64,
    /// The channel blocks of the MAC array (1 and 1 when absent).
    #[serde(default)]
    pub mac_block: MacBlock,
    /// The sustained share of the peak rates (all 1 when absent).
    #[serde(default)]
    pub utilization: Utilization,
    /// Fixed cycles every NPU command takes on top of its roofline (setup, pipeline
    /// fill and drain; 0 when absent).
    #[serde(default)]
    pub command_overhead_cycles: u64,
    /// Whether the MAC array skips products with a zero weight (false when absent).
    #[serde(default)]
    pub skips_zero_weights: bool,
    /// Decoded weight bytes the weight decoder produces a cycle (unlimited when absent).
    #[serde(default)]
    pub weight_decode_bytes_per_cycle: Option<f64>,
    pub energy: Energy,
}

/// The preset names and their YAML text.
pub const PRESETS: &[(&str, &str)] = &[
    ("npu-128", include_str!("../../targets/npu-128.yaml")),
    ("npu-256", include_str!("../../targets/npu-256.yaml")),
    ("npu-512", include_str!("../../targets/npu-512.yaml")),
    (
        "npu-u55-128",
        include_str!("../../targets/npu-u55-128.yaml"),
    ),
    (
        "npu-u55-256",
        include_str!("../../targets/npu-u55-256.yaml"),
    ),
    (
        "npu-u65-256",
        include_str!("../../targets/npu-u65-256.yaml"),
    ),
];

/// The preset that `--target npu` names.
pub const DEFAULT_PRESET: &str = "npu-256";

impl Target {
    /// A preset by name (`npu` is the default preset).
    pub fn preset(name: &str) -> Result<Target> {
        let name = if name == "npu" { DEFAULT_PRESET } else { name };
        let (_, yaml) = PRESETS.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
            Error::new(format!(
                "unknown NPU target '{name}' (presets: npu, {})",
                names.join(", ")
            ))
        })?;
        Target::from_yaml(yaml)
    }

    /// Parses and checks a target description.
    pub fn from_yaml(text: &str) -> Result<Target> {
        let t: Target = serde_yaml_ng::from_str(text)
            .map_err(|e| Error::new(format!("invalid target description: {e}")))?;
        t.check()?;
        Ok(t)
    }

    /// Reads a target description file.
    pub fn from_file(path: &Path) -> Result<Target> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
        Target::from_yaml(&text).map_err(|e| e.in_file(path))
    }

    fn check(&self) -> Result<()> {
        let rates = [
            ("int8_macs_per_cycle", self.int8_macs_per_cycle),
            ("fp8_macs_per_cycle", self.fp8_macs_per_cycle),
            ("elementwise_per_cycle", self.elementwise_per_cycle),
            ("clock_hz", self.clock_hz),
            ("sram_bytes", self.sram_bytes),
            ("mac_block.out_channels", self.mac_block.out_channels),
            ("mac_block.in_channels", self.mac_block.in_channels),
        ];
        if let Some((name, _)) = rates.iter().find(|(_, v)| *v == 0) {
            return Err(Error::new(format!(
                "target '{}': {name} must be positive",
                self.name
            )));
        }
        if self.mac_block.out_channels > 4096 || self.mac_block.in_channels > 4096 {
            return Err(Error::new(format!(
                "target '{}': mac_block channels must be at most 4096",
                self.name
            )));
        }
        let bandwidths = [
            ("offchip_bytes_per_cycle", self.offchip_bytes_per_cycle),
            ("sram_bytes_per_cycle", self.sram_bytes_per_cycle),
            (
                "weight_decode_bytes_per_cycle",
                self.weight_decode_bytes_per_cycle.unwrap_or(1.0),
            ),
        ];
        if let Some((name, _)) = bandwidths.iter().find(|(_, v)| !v.is_finite() || *v <= 0.0) {
            return Err(Error::new(format!(
                "target '{}': {name} must be a positive number",
                self.name
            )));
        }
        if let Some((name, _)) = Utilization::NAMES
            .into_iter()
            .zip(self.utilization.values())
            .find(|(_, v)| !(*v > 0.0 && *v <= 1.0))
        {
            return Err(Error::new(format!(
                "target '{}': utilization {name} must be in (0, 1]",
                self.name
            )));
        }
        let e = &self.energy;
        let energies = [
            e.pj_per_int8_mac,
            e.pj_per_fp8_mac,
            e.pj_per_sram_byte,
            e.pj_per_offchip_byte,
        ];
        if energies.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::new(format!(
                "target '{}': energy constants must be finite and non-negative",
                self.name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_grow() {
        let t: Vec<Target> = PRESETS
            .iter()
            .map(|(n, _)| Target::preset(n).unwrap())
            .collect();
        for (p, (name, _)) in t.iter().zip(PRESETS) {
            assert_eq!(p.name, *name);
        }
        let ideal: Vec<&Target> = t
            .iter()
            .filter(|p| p.name.trim_start_matches("npu-").parse::<u64>().is_ok())
            .collect();
        assert_eq!(ideal.len(), 3);
        assert!(ideal
            .windows(2)
            .all(|w| w[0].int8_macs_per_cycle < w[1].int8_macs_per_cycle));
        // The fitted presets are slower than the ideal roofline of their size.
        for fitted in t.iter().filter(|p| p.name.contains("-u")) {
            let u = fitted.utilization.values();
            assert!(u.iter().all(|&v| v > 0.0 && v <= 1.0), "{}", fitted.name);
            assert!(u.iter().any(|&v| v < 1.0), "{}", fitted.name);
        }
        assert_eq!(Target::preset("npu").unwrap().name, DEFAULT_PRESET);
    }

    #[test]
    fn bad_descriptions_are_rejected() {
        let err = Target::preset("npu-7").unwrap_err().to_string();
        assert!(err.contains("npu-128"), "{err}");
        let yaml = PRESETS[0]
            .1
            .replace("int8_macs_per_cycle: 128", "int8_macs_per_cycle: 0");
        assert!(Target::from_yaml(&yaml).is_err());
        let yaml = format!("{}\nturbo: true\n", PRESETS[0].1);
        assert!(Target::from_yaml(&yaml).is_err());
    }
}
