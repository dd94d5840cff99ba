//! FP8 post-training quantization (E4M3 or E5M2).
//!
//! Convolutions and fully connected layers (Gemm) get FP8 weights with one scale per
//! output channel (or per tensor), chosen by amax or an MSE search. With activation
//! quantization on, a `Quantize` to FP8 (scale from the calibrated amax of the value)
//! feeds their data input, so they multiply FP8 by FP8; the interpreter and the NPU sum
//! the products exactly and round once to f32. Outputs, biases and every other op stay
//! f32.

use crate::quantize_int8::{observe, Calibration, CalibrationMethod, FloatNode};
use crate::{ActivationFusion, BatchNormFolding};
use nnopt_compiler::fp8::{channel_scales, tensor_scale, Fp8Format, Saturation, ScaleMethod};
use nnopt_compiler::ir::{
    verify, Graph, NodeIndex, Op, QuantParams, QuantizeRounding, Tensor, TensorType, ValueRef,
};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// How weight scales are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightScaling {
    /// The largest magnitude maps to the format's largest value.
    #[default]
    Amax,
    /// The scale with the least squared error among 32 candidates.
    Mse,
}

/// Options of the FP8 quantizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fp8Options {
    /// The FP8 format of weights and activations.
    pub format: Fp8Format,
    /// Quantize the data inputs of converted ops too (else weights only).
    pub activations: bool,
    /// One weight scale per output channel (else one per tensor).
    pub per_channel: bool,
    /// How weight scales are chosen.
    pub weight_scaling: WeightScaling,
    /// How activation ranges are chosen from the calibration values.
    pub method: CalibrationMethod,
    /// The percentile kept by [`CalibrationMethod::Percentile`].
    pub percentile: f32,
}

impl Default for Fp8Options {
    fn default() -> Self {
        Fp8Options {
            format: Fp8Format::E4M3,
            activations: true,
            per_channel: true,
            weight_scaling: WeightScaling::Amax,
            method: CalibrationMethod::Minmax,
            percentile: 99.99,
        }
    }
}

/// What the FP8 quantizer did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fp8Report {
    pub format: Option<Fp8Format>,
    /// Calibration samples used, and whether they were synthetic.
    pub samples: usize,
    pub synthetic: bool,
    /// Ops now taking FP8 weights (and FP8 data when activations are quantized).
    pub fp8_nodes: usize,
    /// `Quantize` nodes inserted for FP8 data inputs.
    pub quantize_nodes: usize,
    /// Weight bytes before (f32) and after (FP8).
    pub weight_bytes: (usize, usize),
    /// Ops that stay f32, with the reason.
    pub float_nodes: Vec<FloatNode>,
    pub warnings: Vec<String>,
}

impl fmt::Display for Fp8Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        let name = self.format.map_or("fp8", |x| x.name());
        writeln!(
            f,
            "{name}: {} ops ({} quantize inserted), weights {} -> {} bytes; calibration: {} {} samples",
            self.fp8_nodes,
            self.quantize_nodes,
            self.weight_bytes.0,
            self.weight_bytes.1,
            self.samples,
            if self.synthetic { "synthetic" } else { "real" },
        )?;
        for n in &self.float_nodes {
            writeln!(f, "  f32: {} ({}): {}", n.node, n.op, n.reason)?;
        }
        Ok(())
    }
}

/// The weight operand's per-channel axis when `n` can take FP8 operands.
fn weight_axis(g: &Graph, n: NodeIndex) -> std::result::Result<usize, String> {
    let node = g.node(n);
    let ins = g.node_inputs(n);
    let axis = match &node.op {
        Op::Conv(_) => 0,
        Op::Gemm(gemm) => {
            if !gemm.is_fully_connected() {
                return Err("FP8 gemm needs alpha = beta = 1 and A not transposed".into());
            }
            if g.ty(ins[0]).shape.len() != 2 {
                return Err("FP8 gemm needs 2-D data".into());
            }
            if gemm.trans_b {
                0
            } else {
                1
            }
        }
        _ => return Err("no FP8 kernel".into()),
    };
    let f32_const = |v: ValueRef| matches!(g.const_value(v), Some(Tensor::F32(_)));
    if ins.len() < 2 || !f32_const(ins[1]) {
        return Err("weights are not an f32 constant".into());
    }
    if g.const_value(ins[0]).is_some() || g.ty(ins[0]).dtype != nnopt_compiler::ir::DType::F32 {
        return Err("the data operand is not an f32 activation".into());
    }
    let cout = g.ty(ins[1]).shape[axis];
    if let Some(&b) = ins.get(2) {
        if !f32_const(b) || g.ty(b).num_elements() != cout {
            return Err(format!("bias is not an f32 constant of {cout} values"));
        }
    }
    Ok(axis)
}

/// FP8 weights of `w` (per channel along `axis`, or per tensor) with their parameters.
fn quantize_weights(w: &Tensor, axis: Option<usize>, o: &Fp8Options) -> (Tensor, QuantParams) {
    let a = w.as_f32().expect("checked f32");
    let method = match o.weight_scaling {
        WeightScaling::Amax => ScaleMethod::default(),
        WeightScaling::Mse => ScaleMethod::Mse { candidates: 32 },
    };
    let f = o.format;
    let scales = match axis {
        Some(axis) => channel_scales(f, a, axis, method),
        None => vec![tensor_scale(
            f,
            &a.iter().copied().collect::<Vec<_>>(),
            method,
        )],
    };
    let codes = ndarray::ArrayD::from_shape_fn(a.raw_dim(), |i| {
        let s = axis.map_or(scales[0], |ax| scales[i[ax]]);
        f.encode(a[&i] / s, Saturation::Saturate)
    });
    let t = match f {
        Fp8Format::E4M3 => Tensor::F8E4M3(codes),
        Fp8Format::E5M2 => Tensor::F8E5M2(codes),
    };
    let params = QuantParams {
        zero_point: vec![0; scales.len()],
        scale: scales,
        axis,
    };
    (t, params)
}

/// Quantizes `g` to FP8 with activation scales calibrated on `calib`. Folds batch
/// normalization and fuses clamp activations first (both exact in float).
pub fn quantize_fp8(g: &mut Graph, calib: &Calibration, opts: &Fp8Options) -> Result<Fp8Report> {
    if !(opts.percentile > 50.0 && opts.percentile <= 100.0) {
        return Err(Error::new(format!(
            "percentile must be in (50, 100], got {}",
            opts.percentile
        )));
    }
    let mut report = Fp8Report {
        format: Some(opts.format),
        samples: calib.samples.len(),
        synthetic: calib.synthetic,
        ..Default::default()
    };
    if calib.synthetic && opts.activations {
        report
            .warnings
            .push(crate::quantize_int8::synthetic_warning("FP8"));
    }
    let mut work = g.clone();
    BatchNormFolding.run(&mut work)?;
    ActivationFusion.run(&mut work)?;
    let mut targets = Vec::new();
    for n in work
        .topo_order()
        .map_err(|_| Error::new("graph has a cycle"))?
    {
        let node = work.node(n);
        if !matches!(node.op, Op::Conv(_) | Op::Gemm(_)) {
            continue;
        }
        match weight_axis(&work, n) {
            Ok(axis) => targets.push((n, axis)),
            Err(reason) => report.float_nodes.push(FloatNode {
                node: node.name.clone(),
                op: node.op.name().to_string(),
                reason,
            }),
        }
    }
    let observers = if opts.activations && !targets.is_empty() {
        calib.check(&work)?;
        observe(&work, calib, opts.method)?
    } else {
        HashMap::new()
    };
    let dtype = opts.format.dtype();
    let mut quantized_of: HashMap<ValueRef, ValueRef> = HashMap::new();
    for &(n, axis) in &targets {
        let ins = work.node_inputs(n);
        let (x, w) = (ins[0], ins[1]);
        let wt = work.const_value(w).expect("checked constant").clone();
        let (codes, params) = quantize_weights(&wt, opts.per_channel.then_some(axis), opts);
        report.weight_bytes.0 += wt.len() * 4;
        report.weight_bytes.1 += codes.len();
        let wname = work.fresh_name(&format!("{}_{}", work.value(w).name, opts.format.name()));
        let wq = work.add_const(wname, codes, Some(params));
        work.set_input(n, 1, wq);
        if opts.activations {
            let q = match quantized_of.get(&x) {
                Some(&q) => q,
                None => {
                    let (lo, hi) = observers
                        .get(&x)
                        .map(|o| o.range(opts.method, opts.percentile))
                        .unwrap_or((0.0, 0.0));
                    let scale = tensor_scale(opts.format, &[lo, hi], ScaleMethod::default());
                    let qname =
                        work.fresh_name(&format!("{}_{}", work.value(x).name, opts.format.name()));
                    let ty = TensorType::new(dtype, work.ty(x).shape.clone())
                        .with_quant(Some(QuantParams::per_tensor(scale, 0)));
                    let op = Op::Quantize {
                        to: dtype,
                        rounding: QuantizeRounding::HalfEven,
                        saturate: true,
                    };
                    let q = work.add_op(qname, op, &[x], ty);
                    report.quantize_nodes += 1;
                    quantized_of.insert(x, q);
                    q
                }
            };
            work.set_input(n, 0, q);
        }
        report.fp8_nodes += 1;
    }
    crate::DeadNodeElimination.run(&mut work)?;
    verify(&work).map_err(|e| Error {
        message: format!("FP8 graph is invalid: {}", e.message),
        ..e
    })?;
    *g = work;
    Ok(report)
}

/// The `quantize-fp8` pass: [`quantize_fp8`] for pipelines, which have no data, so
/// activation scales come from synthetic inputs (with a warning; the `nnopt` driver
/// passes real samples).
pub struct QuantizeFp8 {
    pub options: Fp8Options,
    /// Number of synthetic calibration samples.
    pub samples: usize,
    /// Range of the synthetic f32 inputs.
    pub input_range: (f32, f32),
}

impl QuantizeFp8 {
    pub const NAME: &'static str = "quantize-fp8";

    /// Builds the pass from pipeline options: `format` (e4m3, e5m2), `activations`,
    /// `per_channel`, `weight_scaling` (amax, mse), `method`, `percentile`, `samples`
    /// and `input_range` of the synthetic inputs.
    pub fn from_options(options: &serde_yaml_ng::Value) -> Result<Self> {
        let mut rest = options.clone();
        let mut take = |key: &str| rest.as_mapping_mut().and_then(|m| m.remove(key));
        let samples = match take("samples") {
            None => 8,
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .ok_or_else(|| Error::new("samples must be a positive integer"))?
                .try_into()
                .unwrap_or(usize::MAX),
        };
        crate::options::at_most(
            Self::NAME,
            &[("samples", samples, crate::options::MAX_SAMPLES)],
        )?;
        let input_range = match take("input_range") {
            None => (-1.0, 1.0),
            Some(v) => match serde_yaml_ng::from_value::<[f32; 2]>(v) {
                Ok([lo, hi]) if lo < hi => (lo, hi),
                _ => return Err(Error::new("input_range must be an increasing pair")),
            },
        };
        Ok(QuantizeFp8 {
            options: crate::options::parse(&rest)?,
            samples,
            input_range,
        })
    }
}

impl Pass for QuantizeFp8 {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let calib = Calibration::synthetic(g, self.samples, 0, self.input_range);
        let report = quantize_fp8(g, &calib, &self.options)?;
        for w in &report.warnings {
            eprintln!("warning: {}: {w}", Self::NAME);
        }
        Ok(report.fp8_nodes > 0)
    }
}
