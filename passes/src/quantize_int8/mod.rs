//! INT8 post-training quantization of float graphs.
//!
//! The result has the form of an imported TFLite int8 model: `Quantize` (TFLite
//! rounding) where float values enter int8 ops, int8 ops whose tensor types carry the
//! quantization (so the interpreter runs them with its TFLite-exact integer kernels),
//! `Dequantize` where int8 values reach float ops or graph outputs. Weights are
//! symmetric int8 (zero point 0) per output channel or per tensor, biases int32 with
//! scale `input_scale * weight_scale`, activations asymmetric int8 per tensor from
//! ranges calibrated by running the float graph over sample inputs. Ops without an
//! int8 kernel stay float.

mod calibrate;
mod constants;
mod observer;
mod plan;
mod rewrite;
pub(crate) mod support;

pub(crate) use calibrate::observe;
pub use calibrate::Calibration;
pub use constants::WeightGrid;
pub use observer::CalibrationMethod;
pub use plan::FloatNode;

use crate::{ActivationFusion, BatchNormFolding};
use nnopt_compiler::ir::{verify, Graph, NodeIndex, Op};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Options of the quantizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuantizeOptions {
    /// How activation ranges are chosen from the calibration values.
    pub method: CalibrationMethod,
    /// The percentile kept by [`CalibrationMethod::Percentile`], in (50, 100].
    pub percentile: f32,
    /// Weights with one scale per output channel (else one per tensor).
    pub per_channel: bool,
    /// Weight grids of nodes by name (bits, power-of-two channel scales); other nodes
    /// take int8's.
    pub weight_grids: BTreeMap<String, WeightGrid>,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            method: CalibrationMethod::Minmax,
            percentile: 99.99,
            per_channel: true,
            weight_grids: BTreeMap::new(),
        }
    }
}

impl QuantizeOptions {
    fn check(&self) -> Result<()> {
        if !(self.percentile > 50.0 && self.percentile <= 100.0) {
            return Err(Error::new(format!(
                "percentile must be in (50, 100], got {}",
                self.percentile
            )));
        }
        if let Some((node, g)) = self
            .weight_grids
            .iter()
            .find(|(_, g)| !(2..=8).contains(&g.bits))
        {
            return Err(Error::at_node(
                node,
                format!("weight bits must be 2 to 8, got {}", g.bits),
            ));
        }
        Ok(())
    }
}

/// What the quantizer did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantReport {
    /// The graph was already quantized (int8 TFLite, QDQ ONNX) and was left untouched.
    pub already_quantized: bool,
    /// Calibration samples used, and whether they were synthetic.
    pub samples: usize,
    pub synthetic: bool,
    pub method: CalibrationMethod,
    /// Ops now running in int8.
    pub int8_nodes: usize,
    /// `Quantize` and `Dequantize` nodes inserted at the int8 boundaries.
    pub quantize_nodes: usize,
    pub dequantize_nodes: usize,
    /// Ops that stay float, with the reason.
    pub float_nodes: Vec<FloatNode>,
    /// Things the user should know (e.g. synthetic calibration).
    pub warnings: Vec<String>,
}

impl fmt::Display for QuantReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        if self.already_quantized {
            return writeln!(f, "the model is already quantized; left unchanged");
        }
        writeln!(
            f,
            "int8: {} ops ({} quantize, {} dequantize inserted); calibration: {} {} samples, {}",
            self.int8_nodes,
            self.quantize_nodes,
            self.dequantize_nodes,
            self.samples,
            if self.synthetic { "synthetic" } else { "real" },
            self.method
        )?;
        for n in &self.float_nodes {
            writeln!(f, "  float: {} ({}): {}", n.node, n.op, n.reason)?;
        }
        Ok(())
    }
}

/// The warning given when calibration for `precision` (int8, FP8) falls back to random
/// inputs.
pub fn synthetic_warning(precision: &str) -> String {
    format!(
        "no calibration data given: activation ranges come from random inputs, so \
         {precision} accuracy on real data may be poor (pass representative samples)"
    )
}

/// Whether the graph is already quantized: it has quantized tensors or `Quantize` ops.
pub fn is_quantized(g: &Graph) -> bool {
    g.node_indices().into_iter().any(|n| {
        let node = g.node(n);
        matches!(node.op, Op::Quantize { .. }) || node.outputs.iter().any(|v| v.ty.is_quantized())
    })
}

/// The output-channel axis of node `n`'s weights (its operand 1), if the quantizer
/// gives it per-channel int8 weights (convolutions, Gemm and MatMul with constant
/// weights).
pub fn weight_axis(g: &Graph, n: NodeIndex) -> Option<usize> {
    support::classify(g, n)
        .ok()?
        .slots
        .iter()
        .find_map(|s| match *s {
            support::Slot::Weight { axis } => Some(axis),
            _ => None,
        })
}

/// Quantizes `g` to int8 with activation ranges calibrated on `calib`. Folds batch
/// normalization and fuses clamp activations first (both exact in float). An already
/// quantized graph is returned unchanged, with `already_quantized` set in the report.
pub fn quantize_int8(
    g: &mut Graph,
    calib: &Calibration,
    opts: &QuantizeOptions,
) -> Result<QuantReport> {
    opts.check()?;
    let mut report = QuantReport {
        method: opts.method,
        samples: calib.samples.len(),
        synthetic: calib.synthetic,
        ..Default::default()
    };
    if calib.synthetic {
        report.warnings.push(synthetic_warning("int8"));
    }
    if is_quantized(g) {
        report.already_quantized = true;
        return Ok(report);
    }
    calib.check(g)?;
    let mut work = g.clone();
    BatchNormFolding.run(&mut work)?;
    ActivationFusion.run(&mut work)?;
    let observers = calibrate::observe(&work, calib, opts.method)?;
    let plan = plan::plan(&work, &observers, opts.method, opts.percentile)?;
    let inserted = rewrite::rewrite(&mut work, &plan, opts.per_channel, &opts.weight_grids)?;
    verify(&work).map_err(|e| Error {
        message: format!("quantized graph is invalid: {}", e.message),
        ..e
    })?;
    report.int8_nodes = plan.nodes.len();
    report.quantize_nodes = inserted.quantize;
    report.dequantize_nodes = inserted.dequantize;
    report.float_nodes = plan.float_nodes;
    *g = work;
    Ok(report)
}

/// The `quantize-int8` pass: [`quantize_int8`] for pipelines, which have no data, so it
/// calibrates on synthetic inputs and prints a warning (the `nnopt` driver calls
/// [`quantize_int8`] with real samples instead).
pub struct QuantizeInt8 {
    pub options: QuantizeOptions,
    /// Number of synthetic calibration samples.
    pub samples: usize,
    /// Range of the synthetic f32 inputs.
    pub input_range: (f32, f32),
}

/// Pipeline options of [`QuantizeInt8`].
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PassOptions {
    method: CalibrationMethod,
    percentile: f32,
    per_channel: bool,
    samples: usize,
    input_range: [f32; 2],
}

impl Default for PassOptions {
    fn default() -> Self {
        let q = QuantizeOptions::default();
        PassOptions {
            method: q.method,
            percentile: q.percentile,
            per_channel: q.per_channel,
            samples: 8,
            input_range: [-1.0, 1.0],
        }
    }
}

impl QuantizeInt8 {
    pub const NAME: &'static str = "quantize-int8";

    /// Builds the pass from pipeline options: `method` (minmax, percentile, mse),
    /// `percentile`, `per_channel`, `samples` and `input_range` of the synthetic inputs.
    pub fn from_options(options: &serde_yaml_ng::Value) -> Result<Self> {
        let o: PassOptions = crate::options::parse(options)?;
        let options = QuantizeOptions {
            method: o.method,
            percentile: o.percentile,
            per_channel: o.per_channel,
            weight_grids: BTreeMap::new(),
        };
        options.check()?;
        crate::options::at_most(
            Self::NAME,
            &[("samples", o.samples, crate::options::MAX_SAMPLES)],
        )?;
        let [lo, hi] = o.input_range;
        if o.samples == 0 || lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
            return Err(Error::new(
                "samples must be positive and input_range increasing",
            ));
        }
        Ok(QuantizeInt8 {
            options,
            samples: o.samples,
            input_range: (lo, hi),
        })
    }
}

impl Pass for QuantizeInt8 {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        if is_quantized(g) {
            return Ok(false);
        }
        let calib = Calibration::synthetic(g, self.samples, 0, self.input_range);
        eprintln!("warning: {}: {}", Self::NAME, synthetic_warning("int8"));
        let report = quantize_int8(g, &calib, &self.options)?;
        Ok(report.int8_nodes > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt_compiler::interp::run;
    use nnopt_compiler::ir::{BinaryKind, Op, TensorType, UnaryFunc};
    use nnopt_compiler::ir::{DType, Tensor};

    /// A layer-norm tail and a GELU (`rsqrt((gelu(x) - c)² + eps)`) quantizes to int8
    /// ops all the way, close to the float result.
    #[test]
    fn gelu_squared_difference_and_rsqrt_run_in_int8() {
        let mut g = Graph::new("norm");
        let x = g.add_input("x", TensorType::new(DType::F32, vec![1, 16]));
        let f32s = |shape: &[usize], v: &[f64]| Tensor::from_f64s(DType::F32, shape, v).unwrap();
        let c = g.add_const("c", f32s(&[1], &[0.25]), None);
        let eps = g.add_const("eps", f32s(&[1], &[0.5]), None);
        let ty = TensorType::new(DType::F32, vec![1, 16]);
        let unary = |func| Op::Unary { func };
        let binary = |kind| Op::Binary {
            kind,
            activation: None,
        };
        let y = g.add_op(
            "gelu",
            unary(UnaryFunc::Gelu { tanh: false }),
            &[x],
            ty.clone(),
        );
        let d = g.add_op(
            "d",
            binary(BinaryKind::SquaredDifference),
            &[y, c],
            ty.clone(),
        );
        let v = g.add_op("v", binary(BinaryKind::Add), &[d, eps], ty.clone());
        let r = g.add_op("r", unary(UnaryFunc::Rsqrt), &[v], ty);
        g.set_outputs(vec![r]);
        let samples: Vec<Vec<Tensor>> = (0..8)
            .map(|s| {
                let v: Vec<f64> = (0..16)
                    .map(|i| ((i * 7 + s * 5) % 23) as f64 / 5.0 - 2.2)
                    .collect();
                vec![f32s(&[1, 16], &v)]
            })
            .collect();
        let want = run(&g, &samples[0]).unwrap();
        let mut q = g.clone();
        let report = quantize_int8(
            &mut q,
            &Calibration::new(samples.clone()),
            &Default::default(),
        )
        .unwrap();
        assert!(report.float_nodes.is_empty(), "{:?}", report.float_nodes);
        assert_eq!(report.int8_nodes, 4);
        let got = run(&q, &samples[0]).unwrap();
        let (got, want) = (got[0].as_f32().unwrap(), want[0].as_f32().unwrap());
        let worst = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.05, "{worst}: {got:?} vs {want:?}");
    }
}
