//! The reference interpreter: runs an IR graph on concrete tensors.
//!
//! Float ops follow ONNX semantics; ops on quantized integer tensors follow TFLite's
//! reference kernels (fixed-point requantization, rounding and saturation) so that int8
//! results are bit-exact with LiteRT.

pub mod conv_geometry;
mod float;
mod fp8;
mod noise;
mod quant;
mod svdf_shape;

pub use quant::{
    activation_range, channel_multipliers, fixedpoint, requantize, requantize_multiplier,
    resize_nhwc, softmax_fixed_point, softmax_reference, softmax_table, softmax_with_table,
    svdf_integer, svdf_params, tflite_resize_flags, SvdfParams, TfliteResize,
};

pub use noise::{is_noisy_neuron, BinaryNoise};

use crate::ir::{Graph, Op, Tensor, TensorType, ValueRef};
use crate::kernels::PreparedWeights;
use crate::{Error, Result};
use petgraph::stable_graph::NodeIndex;
use std::borrow::Cow;
use std::collections::HashMap;

/// An input operand of a kernel: data and its static type (with quantization).
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub data: &'a Tensor,
    pub ty: &'a TensorType,
}

/// Whether the interpreter has an integer kernel for `op` on quantized operands.
pub fn has_integer_kernel(op: &Op) -> bool {
    quant::handles(op)
}

/// Evaluates one op. `outputs` are the declared output types (dtype, shape, quantization).
pub fn eval_op(op: &Op, inputs: &[Operand<'_>], outputs: &[TensorType]) -> Result<Vec<Tensor>> {
    eval_op_prepared(op, inputs, outputs, None)
}

/// [`eval_op`] keeping prepared constant weights in `slot` for later calls.
fn eval_op_prepared(
    op: &Op,
    inputs: &[Operand<'_>],
    outputs: &[TensorType],
    slot: Option<&PreparedWeights>,
) -> Result<Vec<Tensor>> {
    let quantized = outputs.iter().any(|t| t.is_quantized())
        || inputs
            .iter()
            .any(|o| o.ty.is_quantized() && !matches!(op, Op::Dequantize));
    if fp8::handles(op, inputs) {
        fp8::eval(op, inputs, outputs)
    } else if quantized && quant::handles(op) {
        quant::eval(op, inputs, outputs, slot)
    } else {
        float::eval(op, inputs, outputs)
    }
}

/// Runs the graph on `inputs` (one per graph input, in order) and returns the outputs.
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
    Session::new(g).run(inputs)
}

/// Like [`run`], and calls `observe` with every value the graph computes (graph inputs
/// and node outputs, not constants) as soon as it is known, e.g. to calibrate
/// quantization ranges.
pub fn run_observed(
    g: &Graph,
    inputs: &[Tensor],
    observe: &mut dyn FnMut(ValueRef, &Tensor),
) -> Result<Vec<Tensor>> {
    Session::new(g).run_observed(inputs, observe)
}

/// A graph ready to run many times (from several threads at once): kernels keep what
/// they prepare from constant weights across runs.
pub struct Session<'g> {
    g: &'g Graph,
    /// One slot per node whose inputs after the first are all constants.
    slots: HashMap<NodeIndex, PreparedWeights>,
}

impl<'g> Session<'g> {
    /// A session on `g`.
    pub fn new(g: &'g Graph) -> Self {
        let constant = |v: &ValueRef| matches!(g.node(v.node).op, Op::Const { .. });
        let slots = g
            .node_indices()
            .into_iter()
            .filter(|&n| {
                let ins = g.node_inputs(n);
                ins.len() > 1 && ins[1..].iter().all(constant)
            })
            .map(|n| (n, PreparedWeights::new()))
            .collect();
        Session { g, slots }
    }

    /// Runs the graph on `inputs` (one per graph input, in order).
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.run_observed(inputs, &mut |_, _| {})
    }

    /// Like [`Session::run`], calling `observe` as [`run_observed`] does.
    pub fn run_observed(
        &self,
        inputs: &[Tensor],
        observe: &mut dyn FnMut(ValueRef, &Tensor),
    ) -> Result<Vec<Tensor>> {
        self.execute(inputs, observe, None)
    }

    /// Like [`Session::run`], with the binary neurons' outputs flipped by `noise` (see
    /// [`BinaryNoise`] and [`is_noisy_neuron`]).
    pub fn run_noisy(&self, inputs: &[Tensor], noise: &BinaryNoise) -> Result<Vec<Tensor>> {
        self.execute(inputs, &mut |_, _| {}, Some(noise))
    }

    fn execute(
        &self,
        inputs: &[Tensor],
        observe: &mut dyn FnMut(ValueRef, &Tensor),
        noise: Option<&BinaryNoise>,
    ) -> Result<Vec<Tensor>> {
        let g = self.g;
        if inputs.len() != g.inputs().len() {
            return Err(Error::new(format!(
                "the model has {} inputs, {} were given",
                g.inputs().len(),
                inputs.len()
            )));
        }
        let order = g
            .topo_order()
            .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
        // Constants are borrowed from the graph, computed values owned.
        let mut env: HashMap<ValueRef, Cow<'_, Tensor>> = HashMap::new();
        for (i, (&n, t)) in g.inputs().iter().zip(inputs).enumerate() {
            let ty = &g.node(n).outputs[0].ty;
            if t.dtype() != ty.dtype || t.shape() != ty.shape.as_slice() {
                return Err(Error::at_node(
                    &g.node(n).name,
                    format!("input {i} must be {ty}, got {}{:?}", t.dtype(), t.shape()),
                ));
            }
            observe(ValueRef::first(n), t);
            env.insert(ValueRef::first(n), Cow::Borrowed(t));
        }
        let mut remaining_uses: HashMap<ValueRef, usize> = HashMap::new();
        for &n in &order {
            for v in g.node_inputs(n) {
                *remaining_uses.entry(v).or_default() += 1;
            }
        }
        for &n in &order {
            let node = g.node(n);
            match &node.op {
                Op::Input => continue,
                Op::Const { value } => {
                    env.insert(ValueRef::first(n), Cow::Borrowed(value));
                    continue;
                }
                _ => {}
            }
            let ins = g.node_inputs(n);
            let operands: Vec<Operand<'_>> = ins
                .iter()
                .map(|v| Operand {
                    data: &env[v],
                    ty: g.ty(*v),
                })
                .collect();
            let out_types: Vec<TensorType> = node.outputs.iter().map(|v| v.ty.clone()).collect();
            let mut results = eval_op_prepared(&node.op, &operands, &out_types, self.slots.get(&n))
                .map_err(|e| e.in_node(&node.name))?;
            if let Some(noise) = noise.filter(|_| is_noisy_neuron(g, n)) {
                noise
                    .apply(n, &mut results[0])
                    .map_err(|e| e.in_node(&node.name))?;
            }
            for (k, (t, ty)) in results.iter().zip(&out_types).enumerate() {
                if t.shape() != ty.shape.as_slice() || t.dtype() != ty.dtype {
                    return Err(Error::at_node(
                        &node.name,
                        format!(
                            "kernel produced {}{:?} for output {k} declared {ty}",
                            t.dtype(),
                            t.shape()
                        ),
                    ));
                }
            }
            for v in &ins {
                let left = remaining_uses.get_mut(v).expect("counted above");
                *left -= 1;
                if *left == 0 && !g.outputs().contains(v) {
                    env.remove(v);
                }
            }
            for (k, t) in results.into_iter().enumerate() {
                let v = ValueRef { node: n, output: k };
                observe(v, &t);
                env.insert(v, Cow::Owned(t));
            }
        }
        g.outputs()
            .iter()
            .map(|v| {
                env.get(v)
                    .map(|t| t.clone().into_owned())
                    .ok_or_else(|| Error::new("a graph output was not computed"))
            })
            .collect()
    }
}
