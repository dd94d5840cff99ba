//! GatherElements, ScatterElements, ScatterND, TopK, TensorScatter (a key/value cache
//! update, as a gather and a select) and MaxUnpool (a scatter).

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::opt_const_ints;
use super::steps::Steps;
use nnopt_compiler::ir::{BinaryKind, CompareKind, DType, Op, PadMode, ScatterReduction, ValueRef};
use nnopt_compiler::Result;

/// GatherElements.
pub(super) fn gather_elements(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (data, indices) = (cx.input(0)?, cx.input(1)?);
    let axis = cx.axis(cx.int("axis", 0)?, imp.shape(data).len())?;
    imp.emit(Op::GatherElements { axis }, &[data, indices], cx.out(0))
}

/// ScatterElements (and the deprecated Scatter) with its reduction.
pub(super) fn scatter_elements(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins = [cx.input(0)?, cx.input(1)?, cx.input(2)?];
    let axis = cx.axis(cx.int("axis", 0)?, imp.shape(ins[0]).len())?;
    let reduction = scatter_reduction(cx)?;
    imp.emit(Op::ScatterElements { axis, reduction }, &ins, cx.out(0))
}

/// ScatterND with its reduction.
pub(super) fn scatter_nd(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let ins = [cx.input(0)?, cx.input(1)?, cx.input(2)?];
    let reduction = scatter_reduction(cx)?;
    imp.emit(Op::ScatterNd { reduction }, &ins, cx.out(0))
}

/// TopK with `k` from a constant input (opset 10 on) or the attribute.
pub(super) fn top_k(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let x = cx.input(0)?;
    let axis = cx.axis(cx.int("axis", -1)?, imp.shape(x).len())?;
    let k = match opt_const_ints(imp, cx, 1, "k")? {
        Some(k) if k.len() == 1 => k[0],
        Some(k) => return Err(cx.err(format!("k must hold one value, got {k:?}"))),
        None => cx.int("k", -1)?,
    };
    let k = cx.usizes("k", &[k])?[0];
    let op = Op::TopK {
        axis,
        k,
        largest: cx.int("largest", 1)? != 0,
    };
    let values = match cx.out(0) {
        "" => format!("{}_values", cx.out(1)),
        v => v.to_string(),
    };
    let indices = match cx.out(1) {
        "" => format!("{values}_indices"),
        i => i.to_string(),
    };
    imp.emit_q(op, &[x], &[&values, &indices], None)
}

/// The `reduction` attribute of the scatter ops.
pub(super) fn scatter_reduction(cx: &NodeCtx) -> Result<ScatterReduction> {
    Ok(match cx.string("reduction", "none")?.as_str() {
        "none" => ScatterReduction::None,
        "add" => ScatterReduction::Add,
        "mul" => ScatterReduction::Mul,
        "max" => ScatterReduction::Max,
        "min" => ScatterReduction::Min,
        other => return Err(cx.err(format!("reduction '{other}' is not supported"))),
    })
}

/// TensorScatter: `update` `[B, ..., S, ...]` written into `past_cache` `[B, ..., M, ...]`
/// along `axis` from each batch's `write_indices[b]` on (0 when absent), wrapping modulo
/// `M` in `circular` mode. Built as: cache position `p` of batch `b` reads update row
/// `p - write_indices[b]` (mod `M`) where that row exists, else keeps the cache.
pub(super) fn tensor_scatter(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (cache, update) = (cx.input(0)?, cx.input(1)?);
    let (cs, us) = (imp.shape(cache), imp.shape(update));
    let axis = cx.axis(cx.int("axis", -2)?, cs.len())?;
    let circular = match cx.string("mode", "linear")?.as_str() {
        "linear" => false,
        "circular" => true,
        m => return Err(cx.err(format!("unknown mode '{m}'"))),
    };
    let fits = cs.len() == us.len()
        && (0..cs.len()).all(|i| {
            if i == axis {
                us[i] <= cs[i]
            } else {
                us[i] == cs[i]
            }
        });
    if axis == 0 || !fits || imp.ty(cache).dtype != imp.ty(update).dtype {
        return Err(cx.err(format!(
            "update {} does not fit past_cache {} along axis {axis} (after the batch axis)",
            imp.ty(update),
            imp.ty(cache)
        )));
    }
    let (batch, rows, len) = (cs[0], cs[axis], us[axis]);
    let mut s = Steps::new(imp, format!("{}_scatter", cx.out(0)));
    // Positions along the axis, broadcast as [1, ..., M, 1, ...].
    let mut unit = vec![1; cs.len()];
    unit[axis] = rows;
    let mut row = s.constant_fn(DType::I64, &unit, "the positions", |p| p as f64)?;
    if let Some(w) = cx.opt_input(2) {
        if s.imp.shape(w) != [batch] || s.imp.ty(w).dtype.is_float() {
            return Err(cx.err(format!("write_indices must be {batch} integers")));
        }
        let w = s.cast(w, DType::I64)?;
        let mut per_batch = vec![1; cs.len()];
        per_batch[0] = batch;
        let w = s.reshape(w, per_batch)?;
        row = s.binary(BinaryKind::Sub, row, w)?;
    }
    if circular {
        let m = s.constant(DType::I64, &[], &[rows as f64])?;
        row = s.binary(BinaryKind::Mod, row, m)?;
    }
    let compare = |s: &mut Steps, kind, a, b| s.emit(Op::Compare { kind }, &[a, b]);
    let (zero, end) = (
        s.constant(DType::I64, &[], &[0.0])?,
        s.constant(DType::I64, &[], &[len as f64])?,
    );
    let below = compare(&mut s, CompareKind::Less, row, end)?;
    let above = compare(&mut s, CompareKind::GreaterOrEqual, row, zero)?;
    let valid = s.binary(BinaryKind::BitAnd, below, above)?;
    let row = s.emit(Op::Where, &[valid, row, zero])?;
    let mut full = us.clone();
    full[axis] = rows;
    let index = s.emit(Op::Expand { shape: full }, &[row])?;
    let moved = s.emit(Op::GatherElements { axis }, &[update, index])?;
    s.imp.emit(Op::Where, &[valid, moved, cache], cx.out(0))
}

/// MaxUnpool: `x` scattered to the flat output positions of `indices` in zeros of the
/// shape MaxPool's input had (from the window), then zero-padded at the end of each axis
/// to `output_shape` when that is given.
pub(super) fn max_unpool(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (x, indices) = (cx.input(0)?, cx.input(1)?);
    let xs = imp.shape(x);
    if xs.len() < 3 || imp.shape(indices) != xs {
        return Err(cx.err(format!(
            "x {xs:?} needs spatial axes and indices of its shape"
        )));
    }
    let nd = xs.len() - 2;
    let attr = |name: &str, len: usize, default: i64| -> Result<Vec<usize>> {
        let v = cx.ints(name)?.unwrap_or_else(|| vec![default; len]);
        if v.len() != len {
            return Err(cx.err(format!("'{name}' must have {len} values, got {v:?}")));
        }
        cx.usizes(name, &v)
    };
    let kernel = attr("kernel_shape", nd, 0)?;
    let strides = attr("strides", nd, 1)?;
    let pads = attr("pads", 2 * nd, 0)?;
    let mut inferred = xs[..2].to_vec();
    for i in 0..nd {
        let d = (xs[i + 2].max(1) - 1) * strides[i] + kernel[i];
        match d.checked_sub(pads[i] + pads[nd + i]) {
            Some(d) if kernel[i] > 0 => inferred.push(d),
            _ => return Err(cx.err("kernel_shape and pads leave no output")),
        }
    }
    let shape = match opt_const_ints(imp, cx, 2, "output_shape")? {
        Some(s) => cx.usizes("output_shape", &s)?,
        None => inferred.clone(),
    };
    if shape.len() != xs.len() || shape.iter().zip(&inferred).any(|(o, i)| o < i) {
        return Err(cx.err(format!(
            "output_shape {shape:?} is smaller than the unpooled shape {inferred:?}"
        )));
    }
    crate::onnx::import::element_count(&inferred)?;
    let dtype = imp.ty(x).dtype;
    let mut s = Steps::new(imp, format!("{}_unpool", cx.out(0)));
    let total = inferred.iter().product();
    let zeros = s.constant(dtype, &[total], &vec![0.0; total])?;
    let n = xs.iter().product();
    let flat_x = s.reshape(x, vec![n])?;
    let flat_i = s.reshape(indices, vec![n])?;
    let op = Op::ScatterElements {
        axis: 0,
        reduction: ScatterReduction::None,
    };
    let y = s.emit(op, &[zeros, flat_i, flat_x])?;
    let y = s.reshape(y, inferred.clone())?;
    if shape == inferred {
        return Ok(y);
    }
    let pads = shape
        .iter()
        .zip(&inferred)
        .map(|(o, i)| (0, o - i))
        .collect();
    let op = Op::Pad {
        pads,
        mode: PadMode::Constant,
        value: 0.0,
    };
    s.emit(op, &[y])
}
