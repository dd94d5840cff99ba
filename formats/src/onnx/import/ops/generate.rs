//! Ops whose values follow from constants and static shapes: Range, Size, EyeLike,
//! NonZero of a constant, and AffineGrid (a constant grid transformed by the input).

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use super::{const_input, dtype_attr, opt_const_ints};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{DType, Op, Tensor, ValueRef};
use nnopt_compiler::Result;

/// Longest Range the importer builds.
const MAX_RANGE: f64 = (1u64 << 28) as f64;

/// NonZero of a constant: the int64 coordinates `[rank, count]` of its non-zero elements
/// in row-major order. Of a value computed at run time the output shape would depend on
/// the data, which static shapes cannot hold.
pub(super) fn non_zero(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = const_input(imp, cx, 0, "data").map_err(|_| {
        cx.err("the output shape depends on the input's values: only a constant input is supported")
    })?;
    let shape = x.shape().to_vec();
    let hits: Vec<usize> = x
        .to_f64_vec()
        .iter()
        .enumerate()
        .filter(|(_, &v)| v != 0.0)
        .map(|(i, _)| i)
        .collect();
    let mut coords = vec![0i64; shape.len() * hits.len()];
    for (k, &flat) in hits.iter().enumerate() {
        let mut rest = flat;
        for axis in (0..shape.len()).rev() {
            coords[axis * hits.len() + k] = (rest % shape[axis]) as i64;
            rest /= shape[axis];
        }
    }
    let t = ArrayD::from_shape_vec(IxDyn(&[shape.len(), hits.len()]), coords)
        .expect("one coordinate per axis and hit");
    Ok(imp.add_const(cx.out(0), Tensor::I64(t), None))
}

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

/// AffineGrid: `theta` `[N, 2, 3]` (or `[N, 3, 4]`) applied to the normalized
/// coordinates `(x, y[, z], 1)` of an output of constant size `[N, C, (D,) H, W]`, giving
/// `[N, (D,) H, W, 2 | 3]`. The product runs in f64 (as ONNX's reference does), then rounds
/// to theta's type.
pub(super) fn affine_grid(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let theta = cx.input(0)?;
    let (ty, ts) = (imp.ty(theta).dtype, imp.shape(theta));
    let size = opt_const_ints(imp, cx, 1, "size")?.ok_or_else(|| cx.err("size is required"))?;
    let size = cx.usizes("size", &size)?;
    let dims = size.len().saturating_sub(2);
    if !ty.is_float() || !(2..=3).contains(&dims) || ts != [size[0], dims, dims + 1] {
        return Err(cx.err(format!(
            "theta {} does not fit size {size:?} (2-D: [N, 2, 3], 3-D: [N, 3, 4] floats)",
            imp.ty(theta)
        )));
    }
    let spatial = &size[2..];
    let points = nnopt_compiler::limits::shape_elements(spatial, 8, "the grid")?;
    let align = cx.int("align_corners", 0)? != 0;
    let coord = |k: usize, n: usize| match (align, n) {
        (true, 1) => -1.0,
        (true, _) => -1.0 + k as f64 * 2.0 / (n - 1) as f64,
        (false, _) => -1.0 + (2 * k + 1) as f64 / n as f64,
    };
    let mut s = Steps::new(imp, format!("{}_grid", cx.out(0)));
    // Row p holds (x, y[, z], 1) of point p, x along the last (fastest) axis.
    let grid = s.constant_fn(DType::F64, &[1, points, dims + 1], "the grid", |i| {
        let (p, c) = (i / (dims + 1), i % (dims + 1));
        if c == dims {
            return 1.0;
        }
        let axis = dims - 1 - c;
        let stride: usize = spatial[axis + 1..].iter().product();
        coord(p / stride % spatial[axis], spatial[axis])
    })?;
    let theta = s.cast(theta, DType::F64)?;
    let perm = vec![0, 2, 1];
    let theta_t = s.emit(Op::Transpose { perm }, &[theta])?;
    let out = s.emit(Op::MatMul, &[grid, theta_t])?;
    let out = s.cast(out, ty)?;
    let shape = [&size[..1], spatial, &[dims]].concat();
    s.imp.emit(Op::Reshape { shape }, &[out], cx.out(0))
}
