//! The normalizations as reductions and elementwise ops: LayerNormalization,
//! RMSNormalization, GroupNormalization, InstanceNormalization, LpNormalization and
//! MeanVarianceNormalization. Half, bfloat16 and double inputs are normalized in f32
//! (ONNX's `stash_type` 1) and cast back once.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{
    BinaryKind, CompareKind, DType, Op, ReduceKind, Tensor, UnaryFunc, ValueRef,
};
use nnopt_compiler::Result;

/// Emits the steps of one normalization with names derived from its output.
struct Steps<'a> {
    imp: &'a mut Importer,
    base: String,
    count: usize,
}

impl Steps<'_> {
    fn name(&mut self, what: &str) -> String {
        self.count += 1;
        format!("{}_{what}{}", self.base, self.count)
    }

    fn binary(&mut self, kind: BinaryKind, a: ValueRef, b: ValueRef) -> Result<ValueRef> {
        let name = self.name("t");
        let op = Op::Binary {
            kind,
            activation: None,
        };
        self.imp.emit(op, &[a, b], &name)
    }

    fn unary(&mut self, func: UnaryFunc, x: ValueRef) -> Result<ValueRef> {
        let name = self.name("t");
        self.imp.emit(Op::Unary { func }, &[x], &name)
    }

    /// Mean over `axes`, kept as size-1 axes.
    fn mean(&mut self, x: ValueRef, axes: Vec<usize>) -> Result<ValueRef> {
        let name = self.name("mean");
        let op = Op::Reduce {
            kind: ReduceKind::Mean,
            axes,
            keep_dims: true,
        };
        self.imp.emit(op, &[x], &name)
    }

    fn scalar(&mut self, v: f32) -> ValueRef {
        let name = self.name("c");
        self.imp.add_const(
            &name,
            Tensor::from_f64s(DType::F32, &[], &[v as f64]).expect("scalar"),
            None,
        )
    }

    fn cast(&mut self, x: ValueRef, to: DType) -> Result<ValueRef> {
        if self.imp.ty(x).dtype == to {
            return Ok(x);
        }
        let name = self.name("cast");
        self.imp.emit(Op::Cast { to, saturate: true }, &[x], &name)
    }

    fn reshape(&mut self, x: ValueRef, shape: Vec<usize>) -> Result<ValueRef> {
        let name = self.name("reshape");
        self.imp.reshape(x, shape, &name)
    }

    /// `x * 1/sqrt(mean(x^2 over axes) + eps)`, or with the mean removed first when
    /// `center`; also returns the mean (if centred) and the inverse deviation.
    fn standardize(
        &mut self,
        x: ValueRef,
        axes: Vec<usize>,
        eps: f32,
        center: bool,
    ) -> Result<(ValueRef, Option<ValueRef>, ValueRef)> {
        let (d, mean) = if center {
            let m = self.mean(x, axes.clone())?;
            (self.binary(BinaryKind::Sub, x, m)?, Some(m))
        } else {
            (x, None)
        };
        let sq = self.binary(BinaryKind::Mul, d, d)?;
        let var = self.mean(sq, axes)?;
        let e = self.scalar(eps);
        let var = self.binary(BinaryKind::Add, var, e)?;
        let inv = self.unary(UnaryFunc::Rsqrt, var)?;
        Ok((self.binary(BinaryKind::Mul, d, inv)?, mean, inv))
    }
}

/// The f32 working copy of input 0 and its original dtype.
fn start<'a>(imp: &'a mut Importer, cx: &NodeCtx) -> Result<(Steps<'a>, ValueRef, DType)> {
    let x = cx.input(0)?;
    let dtype = imp.ty(x).dtype;
    if !dtype.is_float() {
        return Err(cx.err(format!("{} of {dtype} data", cx.op_type())));
    }
    let mut s = Steps {
        imp,
        base: cx.out(0).to_string(),
        count: 0,
    };
    let x = s.cast(x, DType::F32)?;
    Ok((s, x, dtype))
}

/// Casts `y` back to `dtype` under the node's output name `name`.
fn finish(s: &mut Steps, y: ValueRef, dtype: DType, name: &str) -> Result<ValueRef> {
    if dtype == DType::F32 {
        return s.imp.emit(Op::Identity, &[y], name);
    }
    s.imp.emit(
        Op::Cast {
            to: dtype,
            saturate: true,
        },
        &[y],
        name,
    )
}

/// LayerNormalization and RMSNormalization over the axes from `axis` on; outputs Y and,
/// for LayerNormalization, Mean and InvStdDev.
pub(super) fn layer_norm(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let rms = cx.op_type() == "RMSNormalization";
    let (mut s, x, dtype) = start(imp, cx)?;
    let rank = s.imp.shape(x).len();
    let axis = cx.axis(cx.int("axis", -1)?, rank)?;
    let eps = cx.float("epsilon", 1e-5)?;
    let (mut y, mean, inv) = s.standardize(x, (axis..rank).collect(), eps, !rms)?;
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
    let (y, _, _) = s.standardize(x, (2..shape.len()).collect(), eps, true)?;
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
    let (y, _, _) = s.standardize(grouped, vec![2], eps, true)?;
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
    let name = s.name("sum");
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
    let (zero, one) = (s.scalar(0.0), s.scalar(1.0));
    let name = s.name("is_zero");
    let is_zero = s.imp.emit(
        Op::Compare {
            kind: CompareKind::Equal,
        },
        &[norm, zero],
        &name,
    )?;
    let name = s.name("norm");
    let norm = s.imp.emit(Op::Where, &[is_zero, one, norm], &name)?;
    let y = s.binary(BinaryKind::Div, x, norm)?;
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
    let m = s.mean(x, axes.clone())?;
    let d = s.binary(BinaryKind::Sub, x, m)?;
    let sq = s.binary(BinaryKind::Mul, d, d)?;
    let var = s.mean(sq, axes)?;
    let std = s.unary(UnaryFunc::Sqrt, var)?;
    let e = s.scalar(1e-9);
    let std = s.binary(BinaryKind::Add, std, e)?;
    let y = s.binary(BinaryKind::Div, d, std)?;
    finish(&mut s, y, dtype, cx.out(0))
}
