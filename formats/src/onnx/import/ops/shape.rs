//! Data movement and shape ops: Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat,
//! Split, Slice, Pad, Gather, Shape, Constant, ConstantOfShape, Dropout.

use super::super::attrs::NodeCtx;
use super::super::consts::tensor_from_proto;
use super::super::Importer;
use super::{const_input, opt_const_floats, opt_const_ints};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{DType, Op, PadMode, Tensor, ValueRef};
use nnopt_compiler::Result;

/// Integer list from constant input `i` (newer opsets) or attribute `name` (older ones).
fn ints_from(imp: &Importer, cx: &NodeCtx, i: usize, name: &str) -> Result<Option<Vec<i64>>> {
    match opt_const_ints(imp, cx, i, name)? {
        Some(v) => Ok(Some(v)),
        None => cx.ints(name),
    }
}

/// Flatten.
pub(super) fn flatten(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let s = imp.shape(x);
    let axis = cx.int("axis", 1)?;
    let axis = if axis == s.len() as i64 {
        s.len()
    } else {
        cx.axis(axis, s.len())?
    };
    let shape = vec![s[..axis].iter().product(), s[axis..].iter().product()];
    imp.emit(Op::Reshape { shape }, &[x], cx.out(0))
}

/// Reshape with ONNX's `0` (copy, unless `allowzero`) and `-1` (infer) entries.
pub(super) fn reshape(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let spec = ints_from(imp, cx, 1, "shape")?.ok_or_else(|| cx.err("no target shape"))?;
    let allow_zero = cx.int("allowzero", 0)? != 0;
    let s = imp.shape(x);
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        shape.push(match d {
            0 if !allow_zero => *s
                .get(i)
                .ok_or_else(|| cx.err(format!("shape {spec:?}: 0 at {i} has no input dim")))?,
            -1 if infer.is_none() => {
                infer = Some(i);
                1
            }
            d if (0..1 << 32).contains(&d) => d as usize,
            _ => return Err(cx.err(format!("invalid target shape {spec:?}"))),
        });
    }
    let total: usize = s.iter().product();
    if let Some(i) = infer {
        let known: usize = shape.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(cx.err(format!("cannot reshape {s:?} to {spec:?}")));
        }
        shape[i] = total / known;
    }
    imp.emit(Op::Reshape { shape }, &[x], cx.out(0))
}

/// Transpose (default: reversed axes).
pub(super) fn transpose(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let r = imp.shape(x).len();
    let perm = match cx.ints("perm")? {
        Some(p) => p
            .iter()
            .map(|&a| cx.axis(a, r))
            .collect::<Result<Vec<_>>>()?,
        None => (0..r).rev().collect(),
    };
    imp.emit(Op::Transpose { perm }, &[x], cx.out(0))
}

/// Squeeze (axes attribute or input; none = all unit dims).
pub(super) fn squeeze(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let s = imp.shape(x);
    let axes = match ints_from(imp, cx, 1, "axes")? {
        Some(a) => a
            .iter()
            .map(|&a| cx.axis(a, s.len()))
            .collect::<Result<Vec<_>>>()?,
        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
    };
    if let Some(&a) = axes.iter().find(|&&a| s[a] != 1) {
        return Err(cx.err(format!("cannot squeeze axis {a} of shape {s:?}")));
    }
    let shape = (0..s.len())
        .filter(|i| !axes.contains(i))
        .map(|i| s[i])
        .collect();
    imp.emit(Op::Reshape { shape }, &[x], cx.out(0))
}

/// Unsqueeze (axes attribute or input, relative to the output rank).
pub(super) fn unsqueeze(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let s = imp.shape(x);
    let axes = ints_from(imp, cx, 1, "axes")?.ok_or_else(|| cx.err("no axes"))?;
    let r = s.len() + axes.len();
    let mut axes = axes
        .iter()
        .map(|&a| cx.axis(a, r))
        .collect::<Result<Vec<_>>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(cx.err(format!("repeated axes {axes:?}")));
    }
    let mut dims = s.iter();
    let shape = (0..r)
        .map(|i| {
            if axes.contains(&i) {
                1
            } else {
                *dims.next().expect("rank counted")
            }
        })
        .collect();
    imp.emit(Op::Reshape { shape }, &[x], cx.out(0))
}

/// Concat.
pub(super) fn concat(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins: Vec<ValueRef> = cx.inputs.iter().flatten().copied().collect();
    let first = *ins.first().ok_or_else(|| cx.err("no inputs"))?;
    if !cx.has("axis") {
        return Err(cx.err("attribute 'axis' is required"));
    }
    let axis = cx.axis(cx.int("axis", 0)?, imp.shape(first).len())?;
    imp.emit(Op::Concat { axis }, &ins, cx.out(0))
}

/// Split (sizes from the input, the `split` attribute, `num_outputs`, or equal parts).
pub(super) fn split(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let x = cx.input(0)?;
    let s = imp.shape(x);
    let axis = cx.axis(cx.int("axis", 0)?, s.len())?;
    let dim = s[axis];
    let n_out = cx.node.output.len();
    let sizes = match ints_from(imp, cx, 1, "split")? {
        Some(v) => cx.usizes("split", &v)?,
        None => {
            let parts = if cx.has("num_outputs") {
                cx.int("num_outputs", 0)? as usize
            } else {
                n_out
            };
            if parts == 0 {
                return Err(cx.err("no outputs to split into"));
            }
            if !cx.has("num_outputs") && !dim.is_multiple_of(parts) {
                return Err(cx.err(format!(
                    "dimension {dim} does not split into {parts} equal parts"
                )));
            }
            let chunk = dim.div_ceil(parts);
            (0..parts)
                .map(|i| chunk.min(dim.saturating_sub(i * chunk)))
                .collect()
        }
    };
    if sizes.len() != n_out {
        return Err(cx.err(format!("{} split sizes for {n_out} outputs", sizes.len())));
    }
    let names: Vec<String> = (0..n_out)
        .map(|k| {
            if cx.wants_output(k) {
                cx.out(k).to_string()
            } else {
                format!("{}_split{k}", cx.out(0))
            }
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    imp.emit_q(Op::Split { axis, sizes }, &[x], &names, None)
}

/// Slice (attribute form before opset 10, input form after).
pub(super) fn slice(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let s = imp.shape(x);
    let (st, en, ax, sp) = if imp.opset < 10 {
        (cx.ints("starts")?, cx.ints("ends")?, cx.ints("axes")?, None)
    } else {
        (
            opt_const_ints(imp, cx, 1, "starts")?,
            opt_const_ints(imp, cx, 2, "ends")?,
            opt_const_ints(imp, cx, 3, "axes")?,
            opt_const_ints(imp, cx, 4, "steps")?,
        )
    };
    let (st, en) = (
        st.ok_or_else(|| cx.err("no starts"))?,
        en.ok_or_else(|| cx.err("no ends"))?,
    );
    let ax: Vec<i64> = ax.unwrap_or_else(|| (0..st.len() as i64).collect());
    let sp = sp.unwrap_or_else(|| vec![1; st.len()]);
    if en.len() != st.len() || ax.len() != st.len() || sp.len() != st.len() {
        return Err(cx.err("starts, ends, axes and steps differ in length"));
    }
    let r = s.len();
    let (mut starts, mut ends, mut steps) = (vec![0i64; r], vec![i64::MAX; r], vec![1i64; r]);
    for i in 0..st.len() {
        let a = cx.axis(ax[i], r)?;
        if sp[i] == 0 {
            return Err(cx.err("slice step must not be 0"));
        }
        // Steps beyond any dimension behave alike; clamping keeps the arithmetic in range.
        (starts[a], ends[a], steps[a]) = (st[i], en[i], sp[i].clamp(-(1 << 40), 1 << 40));
    }
    imp.emit(
        Op::Slice {
            starts,
            ends,
            steps,
        },
        &[x],
        cx.out(0),
    )
}

/// Pad (attribute form before opset 11, input form after).
pub(super) fn pad(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let r = imp.shape(x).len();
    let mode = match cx.string("mode", "constant")?.as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" => PadMode::Wrap,
        m => return Err(cx.err(format!("pad mode '{m}' is not supported"))),
    };
    let (raw, value, axes) = if imp.opset < 11 {
        let p = match cx.ints("pads")? {
            Some(p) => Some(p),
            None => cx.ints("paddings")?,
        };
        (p, cx.float("value", 0.0)?, None)
    } else {
        let v = match opt_const_floats(imp, cx, 2, "constant_value")? {
            Some(v) if v.len() == 1 => v[0] as f32,
            Some(v) if v.is_empty() => 0.0,
            Some(_) => return Err(cx.err("constant_value must be a scalar")),
            None => 0.0,
        };
        (
            opt_const_ints(imp, cx, 1, "pads")?,
            v,
            opt_const_ints(imp, cx, 3, "axes")?,
        )
    };
    let raw = raw.ok_or_else(|| cx.err("no pads"))?;
    let axes = match axes {
        Some(a) => a
            .iter()
            .map(|&a| cx.axis(a, r))
            .collect::<Result<Vec<_>>>()?,
        None => (0..r).collect(),
    };
    if raw.len() != 2 * axes.len() {
        return Err(cx.err(format!("{} pads for {} axes", raw.len(), axes.len())));
    }
    let raw = cx.usizes("pads (negative pads are not supported)", &raw)?;
    let mut pads = vec![(0, 0); r];
    for (i, &a) in axes.iter().enumerate() {
        pads[a] = (raw[i], raw[i + axes.len()]);
    }
    imp.emit(Op::Pad { pads, mode, value }, &[x], cx.out(0))
}

/// Gather.
pub(super) fn gather(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (d, i) = (cx.input(0)?, cx.input(1)?);
    let axis = cx.axis(cx.int("axis", 0)?, imp.shape(d).len())?;
    imp.emit(Op::Gather { axis }, &[d, i], cx.out(0))
}

/// Shape of a statically shaped value, as an i64 constant (`start`/`end` honoured).
pub(super) fn shape(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let s = imp.shape(cx.input(0)?);
    let r = s.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (a, b) = (clampi(cx.int("start", 0)?), clampi(cx.int("end", r)?));
    let dims: Vec<i64> = s[a..b.max(a)].iter().map(|&d| d as i64).collect();
    let t = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[dims.len()]), dims).expect("1-D"));
    Ok(imp.add_const(cx.out(0), t, None))
}

/// Constant (every `value*` form except strings and sparse tensors).
pub(super) fn constant(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let vec1 = |v: Vec<f64>, dt| Tensor::from_f64s(dt, &[v.len()], &v).expect("length matches");
    let t = if let Some(t) = cx.tensor("value")? {
        tensor_from_proto(t).map_err(|e| cx.err(e))?
    } else if cx.has("value_float") {
        Tensor::from_f64s(DType::F32, &[], &[cx.float("value_float", 0.0)? as f64]).expect("scalar")
    } else if let Some(v) = cx.floats("value_floats")? {
        vec1(v.iter().map(|&x| x as f64).collect(), DType::F32)
    } else if cx.has("value_int") {
        Tensor::I64(ArrayD::from_elem(IxDyn(&[]), cx.int("value_int", 0)?))
    } else if let Some(v) = cx.ints("value_ints")? {
        Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).expect("1-D"))
    } else {
        return Err(cx.err("only tensor, float(s) and int(s) constants are supported"));
    };
    Ok(imp.add_const(cx.out(0), t, None))
}

/// ConstantOfShape.
pub(super) fn constant_of_shape(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let shape = const_input(imp, cx, 0, "shape")?
        .to_i64_vec()
        .ok_or_else(|| cx.err("shape must hold integers"))?;
    let shape = cx.usizes("shape", &shape)?;
    super::super::element_count(&shape).map_err(|e| cx.err(e.message))?;
    let fill = match cx.tensor("value")? {
        Some(t) => tensor_from_proto(t).map_err(|e| cx.err(e))?,
        None => Tensor::zeros(DType::F32, &[1]),
    };
    if fill.len() != 1 {
        return Err(cx.err("value must have one element"));
    }
    let t = nnopt_compiler::map_tensor_same!(&fill, a => ArrayD::from_elem(IxDyn(&shape), *a.iter().next().expect("one element")));
    Ok(imp.add_const(cx.out(0), t, None))
}

/// Dropout in inference: the input, and an all-true mask when requested.
pub(super) fn dropout(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let x = cx.input(0)?;
    if imp.opset >= 12 && cx.opt_input(2).is_some() {
        let training = const_input(imp, cx, 2, "training_mode")?.to_f64_vec();
        let ratio = opt_const_floats(imp, cx, 1, "ratio")?
            .map_or(0.5, |r| r.first().copied().unwrap_or(0.5));
        if training.first().is_some_and(|&t| t != 0.0) && ratio != 0.0 {
            return Err(cx.err("training-mode dropout is not supported"));
        }
    }
    let mut outs = vec![x];
    if cx.wants_output(1) {
        let shape = imp.shape(x);
        let mask = if imp.opset < 10 {
            let ones = vec![1.0; shape.iter().product()];
            Tensor::from_f64s(imp.ty(x).dtype, &shape, &ones)
                .ok_or_else(|| cx.err("unsupported mask type"))?
        } else {
            Tensor::Bool(ArrayD::from_elem(IxDyn(&shape), true))
        };
        outs.push(imp.add_const(cx.out(1), mask, None));
    }
    Ok(outs)
}
