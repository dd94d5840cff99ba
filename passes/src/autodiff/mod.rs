//! Reverse-mode automatic differentiation: a forward graph becomes one training step's
//! gradient computation.
//!
//! The training graph takes the forward inputs, integer class labels `[N]` and every
//! parameter (the f32 weights and biases of conv and gemm, which were constants); it
//! returns the mean softmax cross-entropy of the forward graph's first output (its
//! logits; a final softmax is dropped) against the labels, then the loss's gradient with
//! respect to each parameter. The optimizer that applies the gradients is the client
//! runtime's (`nnopt-train`), so that its state, learning-rate schedule and algorithm
//! (SGD with momentum, AdamW) are not baked into the graph.
//!
//! Backward ops are ordinary IR (`conv_grad_input`, `gemm` with transposes, `reduce`
//! sums, ...), so the graph prints, verifies and runs in the interpreter like any other.
//! Fused activations are split off first; batch normalization must be folded first
//! (the `batchnorm-folding` pass, [`crate::BatchNormFolding`]).
//!
//! In [`TrainPrecision::Fp8`] the step also fake-quantizes conv and gemm inputs to FP8
//! (see [`fp8`](self::QuantPoint)): one scale input per quantizer after the parameters,
//! one amax output per quantizer after the gradients.

mod batch;
mod fp8;
mod init;
mod rules;

pub use batch::with_batch;
pub use fp8::{QuantPoint, QuantRole, TrainPrecision};
pub use init::{fresh_value, InitScheme, WeightFans};

use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::{
    infer::infer_types, verify, Activation, BinaryKind, DType, Graph, Op, Tensor, TensorType,
    ValueRef,
};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// What the `autodiff` pass builds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutodiffOptions {
    pub precision: TrainPrecision,
}

/// One trainable parameter of a training graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<usize>,
    /// Its value in the forward graph (the starting point).
    pub init: Tensor,
    /// The fans and gain of a weight's layer, `None` for a bias.
    pub fans: Option<WeightFans>,
}

impl Param {
    /// A fresh value drawn by `scheme` (biases zero).
    pub fn fresh(&self, scheme: InitScheme, rng: &mut impl rand::Rng) -> Tensor {
        fresh_value(&self.shape, self.fans, scheme, rng)
    }
}

/// A training step as one graph.
#[derive(Clone, Debug)]
pub struct TrainingGraph {
    /// Inputs: the forward inputs, `labels`, the parameters (in
    /// [`TrainingGraph::params`] order), one scale per quantizer. Outputs: `loss`, the
    /// parameters' gradients, one amax per quantizer.
    pub graph: Graph,
    pub params: Vec<Param>,
    /// Number of forward inputs (before `labels`).
    pub data_inputs: usize,
    /// The FP8 fake-quantizers, in the order of their scale inputs and amax outputs
    /// (empty in FP32).
    pub quant_points: Vec<QuantPoint>,
}

/// Builds values into the training graph with unique names and inferred types.
pub(crate) struct Builder {
    pub g: Graph,
    names: HashSet<String>,
}

impl Builder {
    pub fn name(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while !self.names.insert(name.clone()) {
            name = format!("{base}_{k}");
            k += 1;
        }
        name
    }

    /// Adds `op` on `inputs`, its output type inferred.
    pub fn op(&mut self, base: &str, op: Op, inputs: &[ValueRef]) -> Result<ValueRef> {
        let tys: Vec<&TensorType> = inputs.iter().map(|&v| self.g.ty(v)).collect();
        let ty = infer_types(&op, &tys)
            .map_err(|e| e.in_node(base))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::at_node(base, "op has no output"))?;
        let name = self.name(base);
        Ok(self.g.add_op(name, op, inputs, ty))
    }

    /// Adds an f32 scalar constant.
    pub fn scalar(&mut self, base: &str, v: f32) -> ValueRef {
        let name = self.name(base);
        let t = Tensor::from_f64s(DType::F32, &[], &[v as f64]).expect("a scalar");
        self.g.add_const(name, t, None)
    }

    /// Adds a constant.
    pub fn constant(&mut self, base: &str, t: Tensor) -> ValueRef {
        let name = self.name(base);
        self.g.add_const(name, t, None)
    }

    pub fn input(&mut self, base: &str, ty: TensorType) -> ValueRef {
        let name = self.name(base);
        self.g.add_input(name, ty)
    }

    pub fn binary(
        &mut self,
        base: &str,
        kind: BinaryKind,
        a: ValueRef,
        b: ValueRef,
    ) -> Result<ValueRef> {
        self.op(
            base,
            Op::Binary {
                kind,
                activation: None,
            },
            &[a, b],
        )
    }
}

/// Whether `v` is an f32 constant that is a conv, gemm or matmul weight or bias (a
/// matmul's bias is the constant added to its output), directly or binarized first (the
/// ±1 weights of a binary network, trained through the straight-through estimator).
fn is_param(g: &Graph, v: ValueRef) -> bool {
    let adds_to_matmul = |n| {
        let a = g.node_inputs(n)[0];
        matches!(g.node(a.node).op, Op::MatMul)
    };
    matches!(g.const_value(v), Some(Tensor::F32(_)))
        && g.consumers(through_binarize(g, v))
            .iter()
            .any(|&(n, slot)| match &g.node(n).op {
                Op::Conv(_) | Op::Gemm(_) | Op::MatMul => slot >= 1,
                Op::Binary {
                    kind: BinaryKind::Add,
                    ..
                } => slot == 1 && adds_to_matmul(n),
                _ => false,
            })
}

/// The binarized value when `v`'s only reader is a standalone binarize activation (a
/// weight of a binary layer), else `v`.
pub(crate) fn through_binarize(g: &Graph, v: ValueRef) -> ValueRef {
    match g.consumers(v).as_slice() {
        [(n, 0)]
            if matches!(
                g.node(*n).op,
                Op::Activation {
                    act: Activation::Binarize
                }
            ) =>
        {
            ValueRef::first(*n)
        }
        _ => v,
    }
}

/// Builds the training step of `forward` (one forward output: the logits, or a softmax
/// of them).
pub fn training_graph(forward: &Graph, precision: TrainPrecision) -> Result<TrainingGraph> {
    let order = forward
        .topo_order()
        .map_err(|n| Error::at_node(&forward.node(n).name, "graph has a cycle"))?;
    let Some(&out) = forward.outputs().first() else {
        return Err(Error::new("the model has no output"));
    };
    // A final softmax is dropped: the loss takes logits.
    let logits_of = match &forward.node(out.node).op {
        Op::Softmax { axis: 1, beta } if *beta == 1.0 => forward.node_inputs(out.node)[0],
        _ => out,
    };
    let mut b = Builder {
        g: Graph::new(format!("{}_train", forward.name)),
        names: HashSet::new(),
    };
    let mut map: HashMap<ValueRef, ValueRef> = HashMap::new();
    for &n in forward.inputs() {
        let v = &forward.node(n).outputs[0];
        map.insert(ValueRef::first(n), b.input(&v.name, v.ty.clone()));
    }
    let data_inputs = forward.inputs().len();
    let logits_ty = forward.ty(logits_of).clone();
    if logits_ty.dtype != DType::F32 || logits_ty.shape.len() != 2 {
        return Err(Error::new(format!(
            "the loss needs f32 logits [N, classes], the model gives {logits_ty}"
        )));
    }
    let labels = b.input(
        "labels",
        TensorType::new(DType::I64, vec![logits_ty.shape[0]]),
    );
    // Parameters become inputs, in topological order of their first use.
    let mut params = Vec::new();
    let mut param_inputs = Vec::new();
    for &n in &order {
        let v = ValueRef::first(n);
        if forward.node(n).op.is_source() && is_param(forward, v) {
            let t = forward.const_value(v).expect("a constant").clone();
            let name = forward.value(v).name.clone();
            let pv = b.input(&name, t.tensor_type());
            map.insert(v, pv);
            param_inputs.push(pv);
            params.push(Param {
                name,
                shape: t.shape().to_vec(),
                init: t,
                fans: WeightFans::of(forward, v),
            });
        }
    }
    // Forward, with fused activations split off.
    let fp8 = precision == TrainPrecision::Fp8;
    let mut quantizers = fp8::Quantizers::default();
    let mut tape: Vec<(Op, Vec<ValueRef>, ValueRef)> = Vec::new();
    for &n in &order {
        let node = forward.node(n);
        if let Op::Const { value } = &node.op {
            map.entry(ValueRef::first(n))
                .or_insert_with(|| b.constant(&node.name, value.clone()));
            continue;
        }
        if node.op.is_source() {
            continue;
        }
        if node.outputs.len() != 1 {
            return Err(Error::at_node(
                &node.name,
                "multi-output ops are not differentiated yet",
            ));
        }
        let mut ins: Vec<ValueRef> = forward.node_inputs(n).iter().map(|v| map[v]).collect();
        let mut op = node.op.clone();
        if fp8 && is_matmul_like(&op) {
            for (slot, role) in [(0, QuantRole::Activation), (1, QuantRole::Weight)] {
                let x = ins[slot];
                let (q, new) = quantizers.quantize(&mut b, x, Fp8Format::E4M3, role)?;
                if new {
                    let scale = b.g.node_inputs(q.node)[1];
                    tape.push((b.g.node(q.node).op.clone(), vec![x, scale], q));
                }
                ins[slot] = q;
            }
        }
        let act = op.activation_slot().and_then(|slot| slot.take());
        let mut y = b.op(&node.name, op.clone(), &ins)?;
        tape.push((op, ins, y));
        if let Some(act) = act {
            let a = Op::Activation { act };
            let z = y;
            y = b.op(&format!("{}_act", node.name), a.clone(), &[z])?;
            tape.push((a, vec![z], y));
        }
        map.insert(ValueRef::first(n), y);
    }
    let logits = map[&logits_of];
    let loss = b.op("loss", Op::SoftmaxCrossEntropy, &[logits, labels])?;
    // Backward.
    let needs: HashSet<ValueRef> = needs_grad(&tape, &param_inputs);
    let mut grads: HashMap<ValueRef, ValueRef> = HashMap::new();
    let dlogits = b.op("d_logits", Op::SoftmaxCrossEntropyGrad, &[logits, labels])?;
    grads.insert(logits, dlogits);
    for (op, ins, y) in tape.iter().rev() {
        let Some(&dy) = grads.get(y) else { continue };
        let wanted: Vec<bool> = ins.iter().map(|v| needs.contains(v)).collect();
        if !wanted.iter().any(|&w| w) {
            continue;
        }
        let dy = if fp8 && is_matmul_like(op) {
            quantizers
                .quantize(&mut b, dy, Fp8Format::E5M2, QuantRole::Gradient)?
                .0
        } else {
            dy
        };
        let name = b.g.value(*y).name.clone();
        let dins =
            rules::input_grads(&mut b, op, ins, dy, &wanted).map_err(|e| e.in_node(&name))?;
        for ((&x, want), dx) in ins.iter().zip(&wanted).zip(dins) {
            let (true, Some(dx)) = (*want, dx) else {
                continue;
            };
            let total = match grads.get(&x) {
                Some(&acc) => {
                    let base = format!("d_{}_sum", b.g.value(x).name);
                    b.binary(&base, BinaryKind::Add, acc, dx)?
                }
                None => dx,
            };
            grads.insert(x, total);
        }
    }
    let mut outputs = vec![loss];
    for (p, &pv) in params.iter().zip(&param_inputs) {
        let g = match grads.get(&pv) {
            Some(&g) => g,
            None => b.constant(
                &format!("d_{}", p.name),
                Tensor::zeros(DType::F32, &p.shape),
            ),
        };
        outputs.push(g);
    }
    outputs.extend(quantizers.amaxes.iter().copied());
    b.g.set_outputs(outputs);
    // The forward graph's own outputs (e.g. a final softmax) are no longer needed.
    crate::DeadNodeElimination.run(&mut b.g)?;
    verify(&b.g).map_err(|e| Error {
        message: format!("training graph is invalid: {}", e.message),
        ..e
    })?;
    Ok(TrainingGraph {
        graph: b.g,
        params,
        data_inputs,
        quant_points: quantizers.points,
    })
}

/// Whether FP8 training quantizes the op's first two inputs (a conv, gemm or matmul).
fn is_matmul_like(op: &Op) -> bool {
    matches!(op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul)
}

/// Values whose gradient is needed: the parameters and everything computed from them.
fn needs_grad(tape: &[(Op, Vec<ValueRef>, ValueRef)], params: &[ValueRef]) -> HashSet<ValueRef> {
    let mut needs: HashSet<ValueRef> = params.iter().copied().collect();
    for (_, ins, y) in tape {
        if ins.iter().any(|v| needs.contains(v)) {
            needs.insert(*y);
        }
    }
    needs
}

/// The `autodiff` pass: replaces the forward graph with its training step
/// ([`training_graph`]).
pub struct Autodiff {
    pub options: AutodiffOptions,
}

impl Autodiff {
    pub const NAME: &'static str = "autodiff";

    /// Builds the pass from pipeline options: `precision` (`fp32` or `fp8`).
    pub fn from_options(options: &serde_yaml_ng::Value) -> Result<Self> {
        Ok(Autodiff {
            options: crate::options::parse(options)?,
        })
    }
}

impl Pass for Autodiff {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        *g = training_graph(g, self.options.precision)?.graph;
        Ok(true)
    }
}
