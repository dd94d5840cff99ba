//! The normalizations as reductions and elementwise ops: LayerNormalization,
//! RMSNormalization, GroupNormalization, InstanceNormalization, LpNormalization,
//! MeanVarianceNormalization and LRN. Half, bfloat16 and double inputs are normalized in f32
//! (ONNX's `stash_type` 1) and cast back once.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use nnopt_compiler::ir::{
    BinaryKind, CompareKind, DType, Op, PadMode, ReduceKind, UnaryFunc, ValueRef,
};
use nnopt_compiler::Result;

/// Mean over `axes`, kept as size-1 axes.
fn mean(s: &mut Steps, x: ValueRef, axes: Vec<usize>) -> Result<ValueRef> {
    let op = Op::Reduce {
        kind: ReduceKind::Mean,
        axes,
        keep_dims: true,
    };
    s.emit(op, &[x])
}

/// An f32 scalar.
fn scalar(s: &mut Steps, v: f32) -> Result<ValueRef> {
    s.constant(DType::F32, &[], &[v as f64])
}

/// `x * 1/sqrt(mean(x^2 over axes) + eps)`, or with the mean removed first when
/// `center`; also returns the mean (if centred) and the inverse deviation.
fn standardize(
    s: &mut Steps,
    x: ValueRef,
    axes: Vec<usize>,
    eps: f32,
    center: bool,
) -> Result<(ValueRef, Option<ValueRef>, ValueRef)> {
    let (d, m) = if center {
        let m = mean(s, x, axes.clone())?;
        (s.binary(BinaryKind::Sub, x, m)?, Some(m))
    } else {
        (x, None)
    };
    let sq = s.binary(BinaryKind::Mul, d, d)?;
    let var = mean(s, sq, axes)?;
    let e = scalar(s, eps)?;
    let var = s.binary(BinaryKind::Add, var, e)?;
    let inv = s.unary(UnaryFunc::Rsqrt, var)?;
    Ok((s.binary(BinaryKind::Mul, d, inv)?, m, inv))
}

/// The f32 working copy of input 0 and its original dtype.
fn start<'a>(imp: &'a mut Importer, cx: &NodeCtx) -> Result<(Steps<'a>, ValueRef, DType)> {
    let x = cx.input(0)?;
    let dtype = imp.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("{} of {dtype} data", cx.op_type())));
    }
    let mut s = Steps::new(imp, format!("{}_norm", cx.out(0)));
    let x = s.cast(x, DType::F32)?;
    Ok((s, x, dtype))
}

/// Casts `y` back to `dtype` under the node's output name `name`.
fn finish(s: &mut Steps, y: ValueRef, dtype: DType, name: &str) -> Result<ValueRef> {
    if dtype == DType::F32 {
        return s.imp.emit(Op::Identity, &[y], name);
    }
    s.imp.emit(Op::cast(dtype), &[y], name)
}

/// LayerNormalization and RMSNormalization over the axes from `axis` on; outputs Y and,
/// for LayerNormalization, Mean and InvStdDev.
pub(super) fn layer_norm(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let rms = cx.op_type() == "RMSNormalization";
    let (mut s, x, dtype) = start(imp, cx)?;
    let rank = s.imp.shape(x).len();
    let axis = cx.axis(cx.int("axis", -1)?, rank)?;
    let eps = cx.float("epsilon", 1e-5)?;
    let (mut y, mean, inv) = standardize(&mut s, x, (axis..rank).collect(), eps, !rms)?;
    let scale = cx.input(1)?;
    let scale = s.cast(scale, DType::F32)?;
    y = s.binary(BinaryKind::Mul, y, scale)?;
    if let Some(b) = cx.opt_input(2).filter(|_| !rms) {
        let b = s.cast(b, DType::F32)?;
        y = s.binary(BinaryKind::Add, y, b)?;
    }
    let mut outs = vec![finish(&mut s, y, dtype, cx.out(0))?];
    if let Some(m) = mean.filter(|_| cx.wants_output(1)) {
        outs.push(s.imp.emit(Op::Identity, &[m], cx.out(1))?);
    }
    if cx.wants_output(2) {
        outs.push(s.imp.emit(Op::Identity, &[inv], cx.out(2))?);
    }
    Ok(outs)
}

/// InstanceNormalization: each channel of each sample over its spatial axes, then the
/// per-channel scale and bias.
pub(super) fn instance_norm(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (mut s, x, dtype) = start(imp, cx)?;
    let shape = s.imp.shape(x);
    if shape.len() < 3 {
        return Err(cx.err(format!("input must have rank >= 3, got {shape:?}")));
    }
    let eps = cx.float("epsilon", 1e-5)?;
    let (y, _, _) = standardize(&mut s, x, (2..shape.len()).collect(), eps, true)?;
    let per_channel: Vec<usize> = std::iter::once(shape[1])
        .chain(std::iter::repeat_n(1, shape.len() - 2))
        .collect();
    let y = affine(&mut s, cx, y, per_channel)?;
    finish(&mut s, y, dtype, cx.out(0))
}

/// `y * scale + bias` with inputs 1 and 2 reshaped to `shape`.
fn affine(s: &mut Steps, cx: &NodeCtx, y: ValueRef, shape: Vec<usize>) -> Result<ValueRef> {
    let scale = s.cast(cx.input(1)?, DType::F32)?;
    let scale = s.reshape(scale, shape.clone())?;
    let bias = s.cast(cx.input(2)?, DType::F32)?;
    let bias = s.reshape(bias, shape)?;
    let y = s.binary(BinaryKind::Mul, y, scale)?;
    s.binary(BinaryKind::Add, y, bias)
}

/// GroupNormalization: channels split into `num_groups`, each group of each sample
/// normalized; scale and bias per channel (opset 21) or per group (opset 18).
pub(super) fn group_norm(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (mut s, x, dtype) = start(imp, cx)?;
    let shape = s.imp.shape(x);
    let groups = usize::try_from(cx.int("num_groups", 0)?).unwrap_or(0);
    if shape.len() < 2 || groups == 0 || shape[1] % groups != 0 {
        return Err(cx.err(format!(
            "num_groups {groups} does not divide the channels of {shape:?}"
        )));
    }
    let eps = cx.float("epsilon", 1e-5)?;
    let (n, c) = (shape[0], shape[1]);
    let rest: usize = shape[2..].iter().product();
    let grouped = s.reshape(x, vec![n, groups, c / groups * rest])?;
    let (y, _, _) = standardize(&mut s, grouped, vec![2], eps, true)?;
    let scale_len = s.imp.shape(cx.input(1)?).iter().product::<usize>();
    let y = if scale_len == groups && groups != c {
        let y = affine(&mut s, cx, y, vec![groups, 1])?;
        s.reshape(y, shape)?
    } else {
        let y = s.reshape(y, shape.clone())?;
        let per_channel: Vec<usize> = std::iter::once(c)
            .chain(std::iter::repeat_n(1, shape.len() - 2))
            .collect();
        affine(&mut s, cx, y, per_channel)?
    };
    finish(&mut s, y, dtype, cx.out(0))
}

/// LpNormalization: `x / ||x||_p` along `axis`, for p = 1 or 2 (zero vectors stay zero).
pub(super) fn lp_norm(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (mut s, x, dtype) = start(imp, cx)?;
    let rank = s.imp.shape(x).len();
    let axis = cx.axis(cx.int("axis", -1)?, rank)?;
    let (pre, post) = match cx.int("p", 2)? {
        1 => (None, None),
        2 => (Some(()), Some(UnaryFunc::Sqrt)),
        p => return Err(cx.err(format!("p={p} is not supported (1 or 2)"))),
    };
    let m = match pre {
        Some(()) => s.binary(BinaryKind::Mul, x, x)?,
        None => s.unary(UnaryFunc::Abs, x)?,
    };
    let name = s.name();
    let sum = s.imp.emit(
        Op::Reduce {
            kind: ReduceKind::Sum,
            axes: vec![axis],
            keep_dims: true,
        },
        &[m],
        &name,
    )?;
    let norm = match post {
        Some(f) => s.unary(f, sum)?,
        None => sum,
    };
    let (zero, one) = (scalar(&mut s, 0.0)?, scalar(&mut s, 1.0)?);
    let name = s.name();
    let is_zero = s.imp.emit(
        Op::Compare {
            kind: CompareKind::Equal,
        },
        &[norm, zero],
        &name,
    )?;
    let name = s.name();
    let norm = s.imp.emit(Op::Where, &[is_zero, one, norm], &name)?;
    let y = s.binary(BinaryKind::Div, x, norm)?;
    finish(&mut s, y, dtype, cx.out(0))
}

/// LRN: `x / (bias + alpha / size * sum of x^2 over the channel window)^beta`, the window
/// summed as `size` shifted slices of the channel-padded squares.
pub(super) fn lrn(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (mut s, x, dtype) = start(imp, cx)?;
    let shape = s.imp.shape(x);
    let size = usize::try_from(cx.int("size", 0)?).unwrap_or(0);
    if shape.len() < 3 || size == 0 || size > 1024 {
        return Err(cx.err(format!("size {size} on input {shape:?}")));
    }
    let (alpha, beta, bias) = (
        cx.float("alpha", 1e-4)?,
        cx.float("beta", 0.75)?,
        cx.float("bias", 1.0)?,
    );
    let sq = s.binary(BinaryKind::Mul, x, x)?;
    let mut pads = vec![(0, 0); shape.len()];
    pads[1] = ((size - 1) / 2, size / 2);
    let name = s.name();
    let padded = s.imp.emit(
        Op::Pad {
            pads,
            mode: PadMode::Constant,
            value: 0.0,
        },
        &[sq],
        &name,
    )?;
    let mut sum: Option<ValueRef> = None;
    for k in 0..size {
        let mut starts = vec![0; shape.len()];
        let mut ends = vec![i64::MAX; shape.len()];
        starts[1] = k as i64;
        ends[1] = (k + shape[1]) as i64;
        let name = s.name();
        let steps = vec![1; shape.len()];
        let part = s.imp.emit(
            Op::Slice {
                starts,
                ends,
                steps,
            },
            &[padded],
            &name,
        )?;
        sum = Some(match sum {
            Some(acc) => s.binary(BinaryKind::Add, acc, part)?,
            None => part,
        });
    }
    let sum = sum.expect("size >= 1");
    let k = scalar(&mut s, alpha / size as f32)?;
    let scaled = s.binary(BinaryKind::Mul, sum, k)?;
    let b = scalar(&mut s, bias)?;
    let base = s.binary(BinaryKind::Add, scaled, b)?;
    let e = scalar(&mut s, beta)?;
    let den = s.binary(BinaryKind::Pow, base, e)?;
    let y = s.binary(BinaryKind::Div, x, den)?;
    finish(&mut s, y, dtype, cx.out(0))
}

/// MeanVarianceNormalization: `(x - mean) / (std + 1e-9)` over `axes` (default N, H, W).
pub(super) fn mean_variance_norm(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let (mut s, x, dtype) = start(imp, cx)?;
    let rank = s.imp.shape(x).len();
    let axes = cx.ints("axes")?.unwrap_or_else(|| vec![0, 2, 3]);
    let mut axes = axes
        .iter()
        .map(|&a| cx.axis(a, rank))
        .collect::<Result<Vec<_>>>()?;
    axes.sort_unstable();
    axes.dedup();
    let m = mean(&mut s, x, axes.clone())?;
    let d = s.binary(BinaryKind::Sub, x, m)?;
    let sq = s.binary(BinaryKind::Mul, d, d)?;
    let var = mean(&mut s, sq, axes)?;
    let std = s.unary(UnaryFunc::Sqrt, var)?;
    let e = scalar(&mut s, 1e-9)?;
    let std = s.binary(BinaryKind::Add, std, e)?;
    let y = s.binary(BinaryKind::Div, d, std)?;
    finish(&mut s, y, dtype, cx.out(0))
}
