//! SVDF: one step of the singular value decomposition filter, with its variable state
//! tensor as an input that starts from the state's initial value.

use super::super::builder::{fused, Builder};
use super::super::fb;
use super::Io;
use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{Op, Tensor, TensorType, Value, ValueRef};
use nnopt_compiler::Result;

/// SVDF (inputs: x, weights_feature, weights_time, [bias], state). The state is a
/// variable tensor; the graph reads its initial value (the file's data, else the
/// reset value: the zero point, as TFLite Micro's `ResetVariableTensors`) and also
/// yields the next state as the node's second output.
pub fn svdf(b: &mut Builder<'_, '_>, op: &fb::Operator<'_>, io: &Io) -> Result<()> {
    let o = op
        .builtin_options_as_svdfoptions()
        .ok_or_else(|| b.err("missing SVDFOptions"))?;
    let rank = usize::try_from(o.rank())
        .ok()
        .filter(|&r| r > 0)
        .ok_or_else(|| b.err(format!("SVDF rank must be positive, got {}", o.rank())))?;
    let si = io.input(b, 4)?;
    let state = initial_state(b, si)?;
    let mut ins = vec![
        b.value(io.input(b, 0)?)?,
        b.value(io.input(b, 1)?)?,
        b.value(io.input(b, 2)?)?,
        state,
    ];
    if let Some(bias) = io.opt(3) {
        ins.push(b.value(bias)?);
    }
    let op = Op::Svdf {
        rank,
        activation: fused(o.fused_activation_function())?,
    };
    let out = io.output(b, 0)?;
    let y_ty = b.ty(out)?;
    let state_ty = b.g.ty(state).clone();
    let in_tys: Vec<&TensorType> = ins.iter().map(|&v| b.g.ty(v)).collect();
    let inferred = infer_types(&op, &in_tys).map_err(|e| e.in_node(&b.node))?;
    if inferred[0].shape != y_ty.shape || inferred[0].dtype != y_ty.dtype {
        return Err(b.err(format!(
            "svdf produces {}, but the model declares {y_ty}",
            inferred[0]
        )));
    }
    let name = b.g.fresh_name(&b.node);
    let next_name = b.g.fresh_name(&format!("{}_next", b.tensor_name(si)?));
    let outputs = vec![
        Value {
            name: name.clone(),
            ty: y_ty,
        },
        Value {
            name: next_name,
            ty: state_ty,
        },
    ];
    let n = b.g.add_node(name, op, &ins, outputs);
    b.bind(out, ValueRef::first(n))
}

/// The constant initial value of variable state tensor `i`.
fn initial_state(b: &mut Builder<'_, '_>, i: i32) -> Result<ValueRef> {
    if b.const_data(i)?.is_some() && b.file.tensor(i)?.is_variable() {
        return b.value(i);
    }
    let (data, ty) = variable_initial_value(b, i, "SVDF state")?;
    let name = b.g.fresh_name(&b.tensor_name(i)?);
    let v = b.g.add_const(name, data, ty.quant);
    b.bind(i, v)?;
    Ok(v)
}

/// The initial value of variable tensor `i` (the `what` of an operator): the file's
/// data, else the reset value, the zero point, as TFLite Micro's `ResetVariableTensors`.
pub(super) fn variable_initial_value(
    b: &Builder<'_, '_>,
    i: i32,
    what: &str,
) -> Result<(Tensor, TensorType)> {
    if !b.file.tensor(i)?.is_variable() {
        return Err(b.err(format!(
            "{what} '{}' is not a variable tensor",
            b.tensor_name(i)?
        )));
    }
    let ty = b.ty(i)?;
    if let Some(t) = b.const_data(i)? {
        return Ok((t, ty));
    }
    let zero_point = ty.quant.as_ref().map_or(0, |q| q.zero_point[0]) as f64;
    nnopt_compiler::limits::shape_elements(&ty.shape, ty.dtype.size_bytes(), what)
        .map_err(|e| b.err(e.message))?;
    let one = Tensor::from_f64s(ty.dtype, &[], &[zero_point])
        .ok_or_else(|| b.err(format!("cannot fill the {what} of type {ty}")))?;
    // The zero point broadcast: no buffer wider than the state's own type.
    let data = nnopt_compiler::map_tensor_same!(&one, a => a
        .broadcast(ndarray::IxDyn(&ty.shape))
        .expect("a scalar broadcasts to any shape")
        .to_owned());
    Ok((data, ty))
}
