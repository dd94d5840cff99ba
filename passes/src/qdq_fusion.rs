//! Fuses QDQ form (DequantizeLinear → float op → QuantizeLinear, as ONNX tools and
//! nnopt's own ONNX export write quantized models) into int8 ops, the form `quantize-int8`
//! produces and the NPU compiles.
//!
//! Three steps:
//! 1. Transposes move off the quantized paths: a transpose of a dequantized constant is
//!    folded into the constant, a transpose after a dequantize goes before it (on the
//!    integers), a transpose before a quantize goes after it, and a transpose undone by
//!    the next one disappears (NHWC models exported to ONNX wrap each op in a pair).
//! 2. Clamp activations fuse into the op before them (`activation-fusion`), and
//!    dequantized constants become f32 constants.
//! 3. Each float op that `quantize-int8` can run in int8, whose activations come from
//!    dequantized int8 values, whose weights and biases are dequantized int8 and int32
//!    constants, and whose one output feeds one int8 quantize, becomes that int8 op: it
//!    reads the integers, and its output takes the quantize's parameters and name.
//!    A quantize of a dequantized value with the same parameters is dropped.

use crate::quantize_int8::support::{classify, Output, Slot};
use crate::{ActivationFusion, DeadNodeElimination};
use nnopt_compiler::ir::{DType, Graph, NodeIndex, Op, QuantParams, Tensor, TensorType, ValueRef};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;
use std::collections::HashMap;

/// The `qdq-fusion` pass.
pub struct QdqFusion;

impl QdqFusion {
    pub const NAME: &'static str = "qdq-fusion";
}

impl Pass for QdqFusion {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let has_qdq = g
            .node_indices()
            .into_iter()
            .any(|n| matches!(g.node(n).op, Op::Dequantize));
        if !has_qdq {
            return Ok(false);
        }
        let mut changed = false;
        // Each round removes or moves at least one transpose.
        for _ in 0..g.node_count() {
            if !move_one_transpose(g) {
                break;
            }
            changed = true;
        }
        changed |= ActivationFusion.run(g)?;
        // Dequantized constants become f32 constants (what `quantize-int8`'s rules
        // expect of weights), remembering their integers.
        let integers = float_constants(g);
        for n in g.topo_order().unwrap_or_else(|_| g.node_indices()) {
            if g.contains(n) {
                changed |= fuse(g, n, &integers);
            }
        }
        changed |= drop_requantizations(g);
        DeadNodeElimination.run(g)?;
        Ok(changed)
    }
}

/// The producer of `v` if it is a node of kind `f`.
fn producer(g: &Graph, v: ValueRef, f: impl Fn(&Op) -> bool) -> Option<NodeIndex> {
    f(&g.node(v.node).op).then_some(v.node)
}

fn is_dequantize(op: &Op) -> bool {
    matches!(op, Op::Dequantize)
}

/// Quantization parameters with their axis moved by a transpose of `perm`.
fn permuted(q: &QuantParams, perm: &[usize]) -> Option<QuantParams> {
    let axis = match q.axis {
        None => None,
        Some(a) => Some(perm.iter().position(|&p| p == a)?),
    };
    Some(QuantParams { axis, ..q.clone() })
}

/// `shape` transposed by `perm`.
fn permuted_shape(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    perm.iter().map(|&p| shape[p]).collect()
}

/// Applies one transpose rewrite (see the module doc); returns whether it did.
fn move_one_transpose(g: &mut Graph) -> bool {
    for t in g.node_indices() {
        let Op::Transpose { perm } = g.node(t).op.clone() else {
            continue;
        };
        let Some(&x) = g.node_inputs(t).first() else {
            continue;
        };
        let out = ValueRef::first(t);
        // Undone by the transpose before it.
        if let Op::Transpose { perm: first } = &g.node(x.node).op {
            if perm
                .iter()
                .enumerate()
                .all(|(j, &p)| first.get(p) == Some(&j))
            {
                let source = g.node_inputs(x.node)[0];
                replace(g, out, source);
                g.remove_node(t);
                return true;
            }
        }
        // After a dequantize: on the integers (folded into a constant one).
        if let Some(d) = producer(g, x, is_dequantize) {
            let q = g.node_inputs(d)[0];
            let qty = g.ty(q).clone();
            let Some(quant) = qty.quant.as_ref().and_then(|p| permuted(p, &perm)) else {
                continue;
            };
            let ty = TensorType {
                shape: permuted_shape(&qty.shape, &perm),
                quant: Some(quant.clone()),
                ..qty.clone()
            };
            let name = g.fresh_name(&format!("{}_transposed", g.value(q).name));
            let moved = match g.const_value(q).and_then(|c| transposed(c, &perm)) {
                Some(c) => g.add_const(name, c, Some(quant)),
                None => g.add_op(name, Op::Transpose { perm: perm.clone() }, &[q], ty),
            };
            let dq_name = g.fresh_name(&format!("{}_dq", g.value(moved).name));
            let fty = g.ty(out).clone();
            let dq = g.add_op(dq_name, Op::Dequantize, &[moved], fty);
            replace(g, out, dq);
            g.remove_node(t);
            return true;
        }
        // Before a quantize: after it.
        let users = g.consumers(out);
        if let [(qn, 0)] = users.as_slice() {
            let qn = *qn;
            if let Op::Quantize { .. } = g.node(qn).op {
                let inverse: Vec<usize> = (0..perm.len())
                    .map(|j| perm.iter().position(|&p| p == j).unwrap_or(j))
                    .collect();
                let qty = g.node(qn).outputs[0].ty.clone();
                let Some(quant) = qty.quant.as_ref().and_then(|p| permuted(p, &inverse)) else {
                    continue;
                };
                let pre_ty = TensorType {
                    shape: g.ty(x).shape.clone(),
                    quant: Some(quant),
                    ..qty.clone()
                };
                let q_name = g.fresh_name(&format!("{}_early", g.node(qn).name));
                let op = g.node(qn).op.clone();
                let early = g.add_op(q_name, op, &[x], pre_ty);
                let t_name = g.fresh_name(&format!("{}_int", g.node(t).name));
                let moved = g.add_op(t_name, Op::Transpose { perm }, &[early], qty);
                replace(g, ValueRef::first(qn), moved);
                g.remove_node(qn);
                g.remove_node(t);
                return true;
            }
        }
    }
    false
}

/// `c` transposed by `perm`, if it is an integer tensor of that rank.
fn transposed(c: &Tensor, perm: &[usize]) -> Option<Tensor> {
    match c {
        Tensor::I8(a) if a.ndim() == perm.len() => Some(Tensor::I8(
            a.view()
                .permuted_axes(perm.to_vec())
                .as_standard_layout()
                .into_owned(),
        )),
        Tensor::I32(a) if a.ndim() == perm.len() => Some(Tensor::I32(
            a.view()
                .permuted_axes(perm.to_vec())
                .as_standard_layout()
                .into_owned(),
        )),
        _ => None,
    }
}

/// Replaces every use of `old` (graph outputs included) by `new`, and gives `new` the
/// old value's name when `old` was a graph output, so the model keeps its output names.
fn replace(g: &mut Graph, old: ValueRef, new: ValueRef) {
    let is_output = g.outputs().contains(&old);
    g.replace_all_uses(old, new);
    if is_output {
        let name = g.value(old).name.clone();
        let old_node = old.node;
        g.node_mut(old_node).outputs[old.output].name = g.fresh_name(&format!("{name}_replaced"));
        g.node_mut(new.node).outputs[new.output].name = name;
    }
}

/// Replaces each dequantize of a constant by the f32 constant it computes; returns the
/// integer constant behind each new one.
fn float_constants(g: &mut Graph) -> HashMap<ValueRef, ValueRef> {
    let mut integers = HashMap::new();
    for d in g.node_indices() {
        if !matches!(g.node(d).op, Op::Dequantize) {
            continue;
        }
        let q = g.node_inputs(d)[0];
        let (Some(c), Some(p)) = (g.const_value(q), g.ty(q).quant.clone()) else {
            continue;
        };
        let Some(values) = dequantize(c, &p) else {
            continue;
        };
        let name = g.fresh_name(&format!("{}_f32", g.value(q).name));
        let f = g.add_const(name, values, None);
        replace(g, ValueRef::first(d), f);
        integers.insert(f, q);
    }
    integers
}

/// The real values of integer tensor `c` under `p` (per tensor or along `p.axis`).
fn dequantize(c: &Tensor, p: &QuantParams) -> Option<Tensor> {
    let shape = c.shape().to_vec();
    let inner: usize = p.axis.map_or(1, |a| shape.iter().skip(a + 1).product());
    let channels = p.scale.len();
    let values: Vec<f64> = c
        .to_i64_vec()?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let k = if channels == 1 {
                0
            } else {
                (i / inner) % channels
            };
            (v - p.zero_point[k]) as f64 * f64::from(p.scale[k])
        })
        .collect();
    Tensor::from_f64s(DType::F32, &shape, &values)
}

/// The integer value a dequantize of it gives `v`, if `v` is one.
fn dequantized(g: &Graph, v: ValueRef) -> Option<ValueRef> {
    let d = producer(g, v, is_dequantize)?;
    let q = g.node_inputs(d)[0];
    g.ty(q).quant.is_some().then_some(q)
}

/// Fuses node `n` with its dequantized inputs and its quantized output, if it qualifies;
/// `integers` maps dequantized constants to their integers.
fn fuse(g: &mut Graph, n: NodeIndex, integers: &HashMap<ValueRef, ValueRef>) -> bool {
    let node = g.node(n);
    if matches!(
        node.op,
        Op::Quantize { .. } | Op::Dequantize | Op::Const { .. } | Op::Input
    ) || node.outputs.len() != 1
    {
        return false;
    }
    let Ok(rule) = classify(g, n) else {
        return false;
    };
    let out = ValueRef::first(n);
    let users = g.consumers(out);
    let [(qn, 0)] = users.as_slice() else {
        return false;
    };
    let qn = *qn;
    let q_ty = g.node(qn).outputs[0].ty.clone();
    if !matches!(g.node(qn).op, Op::Quantize { to: DType::I8, .. }) || g.outputs().contains(&out) {
        return false;
    }
    let Some(out_q) = q_ty.quant.clone().filter(|q| q.axis.is_none()) else {
        return false;
    };
    let ins = g.node_inputs(n);
    let mut new_inputs = ins.clone();
    let mut first_act: Option<QuantParams> = None;
    for (slot, (&v, new)) in rule.slots.iter().zip(ins.iter().zip(new_inputs.iter_mut())) {
        let integer = match *slot {
            Slot::Keep => continue,
            Slot::Act => {
                let Some(q) = dequantized(g, v).filter(|q| {
                    g.ty(*q).dtype == DType::I8
                        && g.ty(*q).quant.as_ref().is_some_and(|p| p.axis.is_none())
                }) else {
                    return false;
                };
                first_act.get_or_insert_with(|| g.ty(q).quant.clone().expect("quantized"));
                q
            }
            Slot::ConstAct | Slot::Weight { .. } | Slot::Bias { .. } => {
                let Some(&q) = integers.get(&v) else {
                    return false;
                };
                let ty = g.ty(q);
                let p = ty.quant.as_ref().expect("quantized");
                let fits = match *slot {
                    Slot::Weight { axis } => {
                        ty.dtype == DType::I8
                            && p.zero_point.iter().all(|&z| z == 0)
                            && p.axis.is_none_or(|a| a == axis)
                    }
                    Slot::Bias { .. } => {
                        ty.dtype == DType::I32 && p.zero_point.iter().all(|&z| z == 0)
                    }
                    _ => ty.dtype == DType::I8 && p.axis.is_none(),
                };
                if !fits {
                    return false;
                }
                q
            }
        };
        *new = integer;
    }
    let same_as = |p: &QuantParams| p.scale == out_q.scale && p.zero_point == out_q.zero_point;
    let output_fits = match rule.output {
        Output::Calibrated => true,
        Output::SameAsInput => first_act.as_ref().is_some_and(same_as),
        Output::Fixed { scale, zero_point } => {
            out_q.scale == [scale] && out_q.zero_point == [zero_point]
        }
    };
    if !output_fits {
        return false;
    }
    g.set_inputs(n, &new_inputs);
    if let Some(op) = rule.op {
        g.node_mut(n).op = op;
    }
    let name = g.node(qn).outputs[0].name.clone();
    replace(g, ValueRef::first(qn), out);
    g.remove_node(qn);
    let v = &mut g.node_mut(n).outputs[0];
    v.ty = q_ty;
    v.name = name;
    true
}

/// Drops quantizes of dequantized values to the same type: `q(dq(x)) = x`.
fn drop_requantizations(g: &mut Graph) -> bool {
    let mut changed = false;
    for n in g.node_indices() {
        if !g.contains(n) || !matches!(g.node(n).op, Op::Quantize { .. }) {
            continue;
        }
        let x = g.node_inputs(n)[0];
        let Some(q) = dequantized(g, x) else {
            continue;
        };
        if *g.ty(q) == g.node(n).outputs[0].ty {
            replace(g, ValueRef::first(n), q);
            changed = true;
        }
    }
    changed
}
