//! FP8 training: the fake-quantizers a training graph gets in FP8 precision.
//!
//! Following the FP8 training recipe of Micikevicius et al. (2022): the inputs of every
//! conv and gemm (data and weights) are quantized to E4M3 in the forward pass, and the
//! output gradient entering their backward ops to E5M2; each quantizer has its own
//! per-tensor scale, a graph input, and reports its tensor's amax, a graph output, from
//! which the runtime sets the following steps' scales (delayed scaling). Backward, a
//! quantizer passes the gradient straight through.

use super::Builder;
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::{infer::infer_types, DType, Op, TensorType, Value, ValueRef};
use nnopt_compiler::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Arithmetic of a training step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainPrecision {
    /// f32 throughout (the baseline).
    #[default]
    Fp32,
    /// E4M3 conv/gemm inputs forward, E5M2 gradients backward, f32 elsewhere.
    Fp8,
}

impl TrainPrecision {
    /// `fp32` or `fp8`.
    pub fn name(self) -> &'static str {
        match self {
            TrainPrecision::Fp32 => "fp32",
            TrainPrecision::Fp8 => "fp8",
        }
    }
}

/// What a quantized tensor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantRole {
    /// A parameter entering a conv or gemm.
    Weight,
    /// A data input of a conv or gemm.
    Activation,
    /// The output gradient entering a conv's or gemm's backward ops.
    Gradient,
}

/// One fake-quantizer of an FP8 training graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantPoint {
    /// The quantized value's name.
    pub name: String,
    pub format: Fp8Format,
    pub role: QuantRole,
}

/// The quantizers added so far, in order; each value is quantized once.
#[derive(Default)]
pub(super) struct Quantizers {
    pub points: Vec<QuantPoint>,
    pub scales: Vec<ValueRef>,
    pub amaxes: Vec<ValueRef>,
    done: HashMap<ValueRef, ValueRef>,
}

impl Quantizers {
    /// The fake-quantized `v` (added with its scale input and amax output on first use),
    /// and whether it is new (so the caller records it for the backward pass).
    pub fn quantize(
        &mut self,
        b: &mut Builder,
        v: ValueRef,
        format: Fp8Format,
        role: QuantRole,
    ) -> Result<(ValueRef, bool)> {
        if let Some(&q) = self.done.get(&v) {
            return Ok((q, false));
        }
        let name = b.g.value(v).name.clone();
        let scale = b.input(
            &format!("{name}_scale"),
            TensorType::new(DType::F32, vec![]),
        );
        let op = Op::Fp8FakeQuant { format };
        let tys = infer_types(&op, &[b.g.ty(v), b.g.ty(scale)])?;
        let q_name = b.name(&format!("{name}_{}", format.name()));
        let amax_name = b.name(&format!("{name}_amax"));
        let outputs = tys
            .into_iter()
            .zip([q_name.clone(), amax_name])
            .map(|(ty, name)| Value { name, ty })
            .collect();
        let n = b.g.add_node(q_name, op, &[v, scale], outputs);
        let q = ValueRef::first(n);
        self.points.push(QuantPoint { name, format, role });
        self.scales.push(scale);
        self.amaxes.push(ValueRef { node: n, output: 1 });
        self.done.insert(v, q);
        Ok((q, true))
    }
}
