//! Loading `.npub` NPU binaries and describing them (`nnopt inspect out.npub`).

use nnopt_backends::npu::binary::{self, TargetInfo};
use nnopt_backends::npu::{print, Command, IoBinding, Program};
use nnopt_compiler::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// File extension of NPU binaries.
pub const EXTENSION: &str = "npub";

/// Whether `path` names an NPU binary.
pub fn is_npub(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == EXTENSION)
}

/// Reads and verifies an NPU binary.
pub fn load(path: &Path) -> Result<(Program, TargetInfo, usize)> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::new(format!("cannot read: {e}")).in_file(path))?;
    let (p, t) = binary::read(&bytes).map_err(|e| e.in_file(path))?;
    Ok((p, t, bytes.len()))
}

/// What `inspect` reports about a binary.
#[derive(Serialize)]
pub struct Description<'a> {
    pub name: &'a str,
    pub format: String,
    pub target: &'a str,
    pub bytes: usize,
    pub arena_bytes: usize,
    pub inputs: Vec<IoSummary>,
    pub outputs: Vec<IoSummary>,
    pub commands: BTreeMap<&'static str, usize>,
    pub weight_blocks: usize,
    pub weight_values: usize,
    /// Weight blocks per weight element type (`i8`, `f8e4m3`, `f8e5m2`).
    pub weight_types: BTreeMap<&'static str, usize>,
    pub cpu_segments: Vec<Vec<String>>,
    /// The schedule, one line per command.
    pub schedule: Vec<String>,
    /// The IR value name of each arena tensor `tN` (what `nnopt run --tap` takes).
    pub tensor_names: Vec<&'a str>,
}

/// One input or output of a binary.
#[derive(Serialize)]
pub struct IoSummary {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Conversion at the boundary (`none`, `quantize`, `dequantize`).
    pub conversion: String,
    /// Scale and zero point of the quantized tensor in the arena (per-tensor).
    pub scale: Option<f32>,
    pub zero_point: Option<i64>,
}

fn io(p: &Program, b: &IoBinding) -> IoSummary {
    let quant = p
        .tensors
        .get(b.tensor)
        .and_then(|t| t.quant.as_ref())
        .filter(|q| q.scale.len() == 1 && q.zero_point.len() == 1);
    let conversion = serde_json::to_value(b.conversion)
        .ok()
        .map(|v| match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    IoSummary {
        name: b.name.clone(),
        dtype: b.dtype.to_string(),
        shape: b.shape.clone(),
        conversion,
        scale: quant.map(|q| q.scale[0]),
        zero_point: quant.map(|q| q.zero_point[0]),
    }
}

/// Describes a loaded binary.
pub fn describe<'a>(p: &'a Program, t: &'a TargetInfo, bytes: usize) -> Description<'a> {
    let mut commands = BTreeMap::new();
    for c in &p.commands {
        *commands.entry(c.kind_name()).or_insert(0) += 1;
    }
    let mut weight_types = BTreeMap::new();
    for w in &p.weights {
        *weight_types.entry(w.weight_type()).or_insert(0) += 1;
    }
    Description {
        name: &p.name,
        format: format!("{}.{}", binary::FORMAT_MAJOR, binary::FORMAT_MINOR),
        target: &t.name,
        bytes,
        arena_bytes: p.arena_size,
        inputs: p.inputs.iter().map(|b| io(p, b)).collect(),
        outputs: p.outputs.iter().map(|b| io(p, b)).collect(),
        commands,
        weight_blocks: p.weights.len(),
        weight_values: p.weights.iter().map(|w| w.weights.len()).sum(),
        weight_types,
        cpu_segments: p
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Cpu { segment } => p.cpu_segments.get(*segment).map(|s| s.nodes.clone()),
                _ => None,
            })
            .collect(),
        schedule: print::schedule(p),
        tensor_names: p.tensors.iter().map(|t| t.name.as_str()).collect(),
    }
}

/// The text form of a description.
pub fn render(d: &Description<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "NPU binary '{}' (format {}, target {}, {} bytes)",
        d.name, d.format, d.target, d.bytes
    );
    let _ = writeln!(s, "arena: {} bytes", d.arena_bytes);
    for (what, list) in [("input", &d.inputs), ("output", &d.outputs)] {
        for b in list {
            let quant = match (b.scale, b.zero_point) {
                (Some(scale), Some(zp)) => format!(", scale {scale}, zero point {zp}"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "{what} {}: {}{:?} ({}{quant})",
                b.name, b.dtype, b.shape, b.conversion
            );
        }
    }
    let cmds: Vec<String> = d
        .commands
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect();
    let _ = writeln!(s, "commands: {}", cmds.join(", "));
    let types: Vec<String> = d
        .weight_types
        .iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect();
    let _ = writeln!(
        s,
        "weights: {} blocks ({}), {} values",
        d.weight_blocks,
        types.join(", "),
        d.weight_values
    );
    for (i, seg) in d.cpu_segments.iter().enumerate() {
        let _ = writeln!(s, "CPU segment {i}: {}", seg.join(", "));
    }
    let _ = writeln!(s, "schedule:");
    for line in &d.schedule {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "tensors (names for `nnopt run --tap`):");
    for (k, name) in d.tensor_names.iter().enumerate() {
        let _ = writeln!(s, "  t{k} {name}");
    }
    s
}
