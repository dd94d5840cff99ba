//! `nnopt quantize`: post-training quantization of a float model to FP8 (E4M3, E5M2) or
//! int8, written as QDQ ONNX (inspectable in Netron) or as IR text.

use crate::calibration::{load_calibration, CalibrationData};
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::{Graph, Op};
use nnopt_compiler::{Error, Result};
use nnopt_passes::quantize_int8::{is_quantized, quantize_int8, QuantizeOptions};
use nnopt_passes::{quantize_fp8, Fp8Options};
use serde::Serialize;

/// The number format weights (and data) are quantized to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantFormat {
    /// FP8 E4M3 (max 448, 3 mantissa bits).
    E4m3,
    /// FP8 E5M2 (max 57344, 2 mantissa bits).
    E5m2,
    /// Int8: symmetric weights, asymmetric per-tensor activations (TFLite semantics).
    Int8,
}

impl QuantFormat {
    /// The FP8 format, or `None` for int8.
    pub fn fp8(self) -> Option<Fp8Format> {
        match self {
            QuantFormat::E4m3 => Some(Fp8Format::E4M3),
            QuantFormat::E5m2 => Some(Fp8Format::E5M2),
            QuantFormat::Int8 => None,
        }
    }

    /// Lowercase name (`e4m3`, `e5m2`, `int8`).
    pub fn name(self) -> &'static str {
        match self {
            QuantFormat::E4m3 => "e4m3",
            QuantFormat::E5m2 => "e5m2",
            QuantFormat::Int8 => "int8",
        }
    }
}

/// What to quantize and how.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizeRequest {
    pub format: QuantFormat,
    /// One weight scale per output channel (else per tensor).
    pub per_channel: bool,
    /// FP8 only: leave the data in f32 and quantize weights only.
    pub weights_only: bool,
    pub data: CalibrationData,
}

/// An op left in f32, and why.
#[derive(Clone, Debug, Serialize)]
pub struct FloatOp {
    pub node: String,
    pub op: String,
    pub reason: String,
}

/// What quantization did, as `nnopt quantize --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct QuantizeSummary {
    pub format: QuantFormat,
    pub per_channel: bool,
    pub weights_only: bool,
    pub calibration_samples: usize,
    pub synthetic_calibration: bool,
    /// Ops now running on quantized operands.
    pub quantized_ops: usize,
    /// `Quantize` nodes inserted in front of them.
    pub quantize_nodes: usize,
    /// Bytes of all constants before and after.
    pub constant_bytes_before: usize,
    pub constant_bytes_after: usize,
    pub float_ops: Vec<FloatOp>,
    pub warnings: Vec<String>,
}

/// Bytes of every constant in `g`.
fn constant_bytes(g: &Graph) -> usize {
    g.node_indices()
        .into_iter()
        .filter(|&n| matches!(g.node(n).op, Op::Const { .. }))
        .map(|n| g.node(n).outputs[0].ty.size_bytes())
        .sum()
}

/// Quantizes a float graph as `req` says (calibrating on its data, or on random inputs
/// with a warning).
pub fn quantize_graph(g: &mut Graph, req: &QuantizeRequest) -> Result<QuantizeSummary> {
    if is_quantized(g) {
        return Err(Error::new(
            "the model is already quantized; nnopt quantize takes float models",
        ));
    }
    if req.weights_only && req.format == QuantFormat::Int8 {
        return Err(Error::new(
            "--weights-only applies to FP8 formats (int8 ops need int8 data)",
        ));
    }
    let before = constant_bytes(g);
    let calib = load_calibration(g, &req.data)?;
    let mut s = QuantizeSummary {
        format: req.format,
        per_channel: req.per_channel,
        weights_only: req.weights_only,
        calibration_samples: calib.samples.len(),
        synthetic_calibration: calib.synthetic,
        quantized_ops: 0,
        quantize_nodes: 0,
        constant_bytes_before: before,
        constant_bytes_after: 0,
        float_ops: vec![],
        warnings: vec![],
    };
    let float_ops = |v: Vec<nnopt_passes::quantize_int8::FloatNode>| {
        v.into_iter()
            .map(|f| FloatOp {
                node: f.node,
                op: f.op,
                reason: f.reason,
            })
            .collect()
    };
    match req.format.fp8() {
        Some(format) => {
            let opts = Fp8Options {
                format,
                activations: !req.weights_only,
                per_channel: req.per_channel,
                method: req.data.calibration_method,
                percentile: req.data.percentile,
                ..Default::default()
            };
            let r = quantize_fp8(g, &calib, &opts)?;
            s.quantized_ops = r.fp8_nodes;
            s.quantize_nodes = r.quantize_nodes;
            s.float_ops = float_ops(r.float_nodes);
            s.warnings = r.warnings;
        }
        None => {
            let opts = QuantizeOptions {
                method: req.data.calibration_method,
                percentile: req.data.percentile,
                per_channel: req.per_channel,
                ..Default::default()
            };
            let r = quantize_int8(g, &calib, &opts)?;
            s.quantized_ops = r.int8_nodes;
            s.quantize_nodes = r.quantize_nodes;
            s.float_ops = float_ops(r.float_nodes);
            s.warnings = r.warnings;
        }
    }
    s.constant_bytes_after = constant_bytes(g);
    Ok(s)
}

/// A human-readable summary.
pub fn render(s: &QuantizeSummary) -> String {
    let mut out = format!(
        "{}: {} ops quantized ({} weights, {}), {} quantize nodes inserted\n",
        s.format.name(),
        s.quantized_ops,
        if s.per_channel {
            "per-channel"
        } else {
            "per-tensor"
        },
        if s.weights_only {
            "f32 data"
        } else {
            "quantized data"
        },
        s.quantize_nodes
    );
    out += &format!(
        "constants: {} -> {} bytes ({:.2}x); calibration: {} {} samples\n",
        s.constant_bytes_before,
        s.constant_bytes_after,
        s.constant_bytes_after as f64 / s.constant_bytes_before.max(1) as f64,
        s.calibration_samples,
        if s.synthetic_calibration {
            "synthetic"
        } else {
            "real"
        }
    );
    for f in &s.float_ops {
        out += &format!("  f32: {} ({}): {}\n", f.node, f.op, f.reason);
    }
    out
}
