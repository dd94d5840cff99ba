//! Rewriting the graph after a [`Plan`]: int8 types on the outputs of int8 nodes,
//! quantized constants for their weights, biases and constant operands, `Quantize`
//! (TFLite rounding) where a float value enters int8 nodes and `Dequantize` where an
//! int8 value reaches a float node or a graph output.

use super::constants::{self, QuantizedConst, WeightGrid};
use super::plan::Plan;
use super::support::Slot;
use nnopt_compiler::ir::{
    DType, Graph, NodeIndex, Op, QuantParams, QuantizeRounding, TensorType, ValueRef,
};
use nnopt_compiler::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Counts of what the rewrite inserted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    pub quantize: usize,
    pub dequantize: usize,
}

fn int8_type(shape: &[usize], (scale, zp): (f32, i64)) -> TensorType {
    TensorType::new(DType::I8, shape.to_vec()).with_quant(Some(QuantParams::per_tensor(scale, zp)))
}

fn add_quantized_const(g: &mut Graph, of: ValueRef, suffix: &str, q: QuantizedConst) -> ValueRef {
    let name = g.fresh_name(&format!("{}_{suffix}", g.value(of).name));
    g.add_const(name, q.value, Some(q.params))
}

fn param(g: &Graph, plan: &Plan, node: &str, v: ValueRef) -> Result<(f32, i64)> {
    plan.params
        .get(&v)
        .copied()
        .ok_or_else(|| Error::at_node(node, format!("no parameters for '{}'", g.value(v).name)))
}

/// Applies `plan` to `g` with per-channel (or per-tensor) weights; each node's weights
/// take the grid `weight_grids` names for it (int8 for others).
pub fn rewrite(
    g: &mut Graph,
    plan: &Plan,
    per_channel: bool,
    weight_grids: &BTreeMap<String, WeightGrid>,
) -> Result<Inserted> {
    let mut inserted = Inserted::default();
    let mut quantized_of: HashMap<ValueRef, ValueRef> = HashMap::new();
    let mut replaced_consts: HashSet<NodeIndex> = HashSet::new();
    for (n, rule) in &plan.nodes {
        let n = *n;
        let name = g.node(n).name.clone();
        let ins = g.node_inputs(n);
        let mut input_scale = None;
        let mut w_scales: Option<Vec<f32>> = None;
        for (slot_index, (slot, &v)) in rule.slots.iter().zip(&ins).enumerate() {
            let at_node = |e: Error| e.in_node(&name);
            let new = match *slot {
                Slot::Keep => continue,
                Slot::Act => {
                    let p = param(g, plan, &name, v)?;
                    input_scale.get_or_insert(p.0);
                    if plan.is_int8(v.node) {
                        continue;
                    }
                    *quantized_of.entry(v).or_insert_with(|| {
                        inserted.quantize += 1;
                        let qname = g.fresh_name(&format!("{}_quant", g.value(v).name));
                        let ty = int8_type(&g.ty(v).shape, p);
                        let op = Op::Quantize {
                            to: DType::I8,
                            rounding: QuantizeRounding::Tflite,
                            saturate: true,
                        };
                        g.add_op(qname, op, &[v], ty)
                    })
                }
                Slot::ConstAct | Slot::Weight { .. } | Slot::Bias { .. } => {
                    let t = g.const_value(v).ok_or_else(|| {
                        Error::at_node(&name, format!("operand {slot_index} is not a constant"))
                    })?;
                    let q = match *slot {
                        Slot::Weight { axis } => {
                            let grid = weight_grids.get(&name).copied().unwrap_or_default();
                            let q = constants::weights(t, per_channel.then_some(axis), grid);
                            w_scales = q.as_ref().ok().map(|q| q.params.scale.clone());
                            q
                        }
                        Slot::Bias { axis } => match (input_scale, &w_scales) {
                            (Some(s), Some(ws)) => constants::bias(t, s, ws, axis),
                            _ => Err(Error::new("bias without input and weights")),
                        },
                        _ => constants::activation_const(t),
                    }
                    .map_err(at_node)?;
                    let suffix = if matches!(slot, Slot::Bias { .. }) {
                        "int32"
                    } else {
                        "int8"
                    };
                    replaced_consts.insert(v.node);
                    add_quantized_const(g, v, suffix, q)
                }
            };
            g.set_input(n, slot_index, new);
        }
        if let Some(op) = &rule.op {
            g.node_mut(n).op = op.clone();
        }
        for k in 0..g.node(n).outputs.len() {
            let p = param(g, plan, &name, ValueRef { node: n, output: k })?;
            let ty = &mut g.node_mut(n).outputs[k].ty;
            *ty = int8_type(&ty.shape, p);
        }
    }
    for (n, _) in &plan.nodes {
        for k in 0..g.node(*n).outputs.len() {
            if dequantize_uses(
                g,
                plan,
                ValueRef {
                    node: *n,
                    output: k,
                },
            ) {
                inserted.dequantize += 1;
            }
        }
    }
    for c in replaced_consts {
        if g.consumers(ValueRef::first(c)).is_empty() && !g.outputs().iter().any(|o| o.node == c) {
            g.remove_node(c);
        }
    }
    Ok(inserted)
}

/// Routes the float uses of int8 value `v` (float consumers and graph outputs) through
/// one `Dequantize`. A graph output keeps its name: the dequantized value takes it.
/// Returns whether a `Dequantize` was added.
fn dequantize_uses(g: &mut Graph, plan: &Plan, v: ValueRef) -> bool {
    let float_uses: Vec<(NodeIndex, usize)> = g
        .consumers(v)
        .into_iter()
        .filter(|(c, _)| !plan.is_int8(*c))
        .collect();
    let is_output = g.outputs().contains(&v);
    if float_uses.is_empty() && !is_output {
        return false;
    }
    let old = g.value(v).name.clone();
    let dq_name = if is_output {
        let renamed = g.fresh_name(&format!("{old}_int8"));
        let node = g.node_mut(v.node);
        if node.name == old {
            node.name = renamed.clone();
        }
        node.outputs[v.output].name = renamed;
        old
    } else {
        g.fresh_name(&format!("{old}_dequant"))
    };
    let ty = TensorType::new(DType::F32, g.ty(v).shape.clone());
    let dq = g.add_op(dq_name, Op::Dequantize, &[v], ty);
    for (c, slot) in float_uses {
        g.set_input(c, slot, dq);
    }
    if is_output {
        let outs = g
            .outputs()
            .iter()
            .map(|&o| if o == v { dq } else { o })
            .collect();
        g.set_outputs(outs);
    }
    true
}
