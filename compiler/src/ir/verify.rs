//! The IR verifier: structure, types and quantization parameters.

use super::infer::infer_types;
use super::{DType, Graph, Op, Value};
use crate::limits::shape_elements;
use crate::{Error, Result};
use std::collections::HashSet;

/// The 8-bit operand without quantization parameters of an op that computes on quantized
/// integers (one with a quantized operand and an integer kernel), if any: such an op
/// cannot run.
fn unquantized_operand<'a>(
    op: &Op,
    operands: impl Iterator<Item = &'a Value> + Clone,
) -> Option<&'a Value> {
    let quantized = operands.clone().any(|v| v.ty.quant.is_some());
    if !quantized || !crate::interp::has_integer_kernel(op) {
        return None;
    }
    operands
        .into_iter()
        .find(|v| matches!(v.ty.dtype, DType::I8 | DType::U8) && v.ty.quant.is_none())
}

/// Checks the graph: no cycles, input slots contiguous, edges naming existing outputs,
/// declared types equal to inferred ones, constants matching their types, quantization
/// parameters of the right length with positive scales and zero points in their type's
/// range, every value within the allocation limit ([`crate::limits`]), unique value
/// names and live graph outputs.
pub fn verify(g: &Graph) -> Result<()> {
    if let Err(n) = g.topo_order() {
        return Err(Error::at_node(&g.node(n).name, "node is on a cycle"));
    }
    // Sizes first: shape inference below computes with the declared shapes.
    for n in g.node_indices() {
        let node = g.node(n);
        for v in &node.outputs {
            let what = format!("value '{}' ({})", v.name, v.ty);
            shape_elements(&v.ty.shape, v.ty.dtype.size_bytes(), &what)
                .map_err(|e| e.in_node(&node.name))?;
        }
    }
    let mut names = HashSet::new();
    for n in g.node_indices() {
        let node = g.node(n);
        let fail = |msg: String| Err(Error::at_node(&node.name, msg));
        for v in &node.outputs {
            if !names.insert(v.name.as_str()) {
                return fail(format!("value name '{}' is defined twice", v.name));
            }
            if let Some(q) = &v.ty.quant {
                let expected = match q.axis {
                    None => 1,
                    Some(a) if a < v.ty.shape.len() => v.ty.shape[a],
                    Some(a) => {
                        return fail(format!("quantization axis {a} out of range for {}", v.ty))
                    }
                };
                if q.scale.len() != expected
                    || (q.zero_point.len() != expected && q.zero_point.len() != 1)
                {
                    return fail(format!(
                        "quantization parameters of '{}' need {expected} entries: {}",
                        v.name, v.ty
                    ));
                }
                let range =
                    v.ty.dtype
                        .int_range()
                        .filter(|_| v.ty.dtype.is_quantizable_int());
                if let Some(z) =
                    range.and_then(|(lo, hi)| q.zero_point.iter().find(|z| !(lo..=hi).contains(*z)))
                {
                    return fail(format!(
                        "zero point {z} of '{}' is outside the range of {}",
                        v.name, v.ty.dtype
                    ));
                }
                if q.scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
                    return fail(format!(
                        "quantization scale of '{}' must be positive and finite",
                        v.name
                    ));
                }
            }
        }
        let slots = g.input_slots(n);
        if slots.iter().enumerate().any(|(i, &s)| i != s) {
            return fail(format!("input slots {slots:?} are not contiguous"));
        }
        let inputs = g.node_inputs(n);
        for v in &inputs {
            if v.output >= g.node(v.node).outputs.len() {
                return fail(format!(
                    "input refers to missing output {} of '{}'",
                    v.output,
                    g.node(v.node).name
                ));
            }
        }
        let operands = inputs.iter().map(|&v| g.value(v)).chain(&node.outputs);
        if let Some(v) = unquantized_operand(&node.op, operands) {
            return fail(format!(
                "{} value '{}' of a quantized '{}' has no quantization parameters (in TFLite, a \
                 scale of 0)",
                v.ty.dtype,
                v.name,
                node.op.name()
            ));
        }
        match &node.op {
            Op::Input => {
                if !inputs.is_empty() || node.outputs.len() != 1 {
                    return fail("an input has no operands and one output".into());
                }
            }
            Op::Const { value } => {
                let ty = &node.outputs[0].ty;
                if node.outputs.len() != 1
                    || value.dtype() != ty.dtype
                    || value.shape() != ty.shape.as_slice()
                {
                    return fail(format!(
                        "constant data {}{:?} does not match its type {ty}",
                        value.dtype(),
                        value.shape()
                    ));
                }
            }
            op => {
                let tys: Vec<_> = inputs.iter().map(|&v| g.ty(v)).collect();
                let inferred = infer_types(op, &tys).map_err(|e| e.in_node(&node.name))?;
                if inferred.len() != node.outputs.len() {
                    return fail(format!(
                        "{} outputs declared, {} inferred",
                        node.outputs.len(),
                        inferred.len()
                    ));
                }
                for (v, t) in node.outputs.iter().zip(&inferred) {
                    if v.ty.shape != t.shape
                        || (v.ty.dtype != t.dtype && !op.declares_output_dtype())
                    {
                        return fail(format!(
                            "output '{}' is declared {} but inferred {}",
                            v.name, v.ty, t
                        ));
                    }
                }
            }
        }
    }
    for &o in g.outputs() {
        if !g.contains(o.node) || o.output >= g.node(o.node).outputs.len() {
            return Err(Error::new("a graph output refers to a removed value"));
        }
    }
    Ok(())
}
