//! Ops whose values follow from constants and static shapes: Range, Size, EyeLike.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::{const_input, dtype_attr};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{Tensor, ValueRef};
use nnopt_compiler::Result;

/// Longest Range the importer builds.
const MAX_RANGE: f64 = (1u64 << 28) as f64;

/// Range from constant `start`, `limit` and `delta` scalars.
pub(super) fn range(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let scalar = |i: usize, what: &str| -> Result<(f64, nnopt_compiler::ir::DType)> {
        let t = const_input(imp, cx, i, what)?;
        match t.to_f64_vec().as_slice() {
            [v] => Ok((*v, t.dtype())),
            _ => Err(cx.err(format!("{what} must be a scalar"))),
        }
    };
    let (start, dtype) = scalar(0, "start")?;
    let (limit, _) = scalar(1, "limit")?;
    let (delta, _) = scalar(2, "delta")?;
    if delta == 0.0 || !delta.is_finite() {
        return Err(cx.err(format!("delta must be a non-zero number, got {delta}")));
    }
    let n = ((limit - start) / delta).ceil().max(0.0);
    if n.is_nan() || n > MAX_RANGE {
        return Err(cx.err(format!("a range of {n} values is too long")));
    }
    let values: Vec<f64> = if dtype.is_float() {
        (0..n as usize).map(|k| start + k as f64 * delta).collect()
    } else {
        let (s, d) = (start as i64, delta as i64);
        (0..n as i64).map(|k| (s + k * d) as f64).collect()
    };
    let t = Tensor::from_f64s(dtype, &[values.len()], &values)
        .ok_or_else(|| cx.err(format!("Range of {dtype} values is not supported")))?;
    Ok(imp.add_const(cx.out(0), t, None))
}

/// Size: the element count of the input's static shape.
pub(super) fn size(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let n = imp.shape(cx.input(0)?).iter().product::<usize>() as i64;
    Ok(imp.add_const(
        cx.out(0),
        Tensor::I64(ArrayD::from_elem(IxDyn(&[]), n)),
        None,
    ))
}

/// EyeLike: ones on diagonal `k` of a 2-D shape, in `dtype` or the input's type.
pub(super) fn eye_like(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let shape = imp.shape(x);
    let [rows, cols] = shape[..] else {
        return Err(cx.err(format!("EyeLike needs a 2-D input, got {shape:?}")));
    };
    let dtype = if cx.has("dtype") {
        dtype_attr(cx, cx.int("dtype", 0)?)?
    } else {
        imp.ty(x).dtype
    };
    let k = cx.int("k", 0)?;
    let values: Vec<f64> = (0..rows * cols)
        .map(|i| f64::from(u8::from((i % cols) as i64 - (i / cols) as i64 == k)))
        .collect();
    let t = Tensor::from_f64s(dtype, &shape, &values)
        .ok_or_else(|| cx.err(format!("EyeLike of {dtype} values is not supported")))?;
    Ok(imp.add_const(cx.out(0), t, None))
}
