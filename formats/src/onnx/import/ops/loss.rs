//! NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss as gathers, masks and sums:
//! each sample's loss is `-input[n, target[n, ...], ...] * weight[target]`, targets equal
//! to `ignore_index` count zero, and the mean divides by the sum of the weights used.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use nnopt_compiler::ir::{BinaryKind, CompareKind, DType, Op, ReduceKind, Tensor, ValueRef};
use nnopt_compiler::Result;

/// Emits the steps with names derived from the node's first output.
struct Steps<'a> {
    imp: &'a mut Importer,
    base: String,
    count: usize,
}

impl Steps<'_> {
    fn emit(&mut self, op: Op, ins: &[ValueRef]) -> Result<ValueRef> {
        self.count += 1;
        let name = format!("{}_loss{}", self.base, self.count);
        self.imp.emit(op, ins, &name)
    }

    fn binary(&mut self, kind: BinaryKind, a: ValueRef, b: ValueRef) -> Result<ValueRef> {
        let op = Op::Binary {
            kind,
            activation: None,
        };
        self.emit(op, &[a, b])
    }

    fn constant(&mut self, dtype: DType, v: f64) -> Result<ValueRef> {
        self.count += 1;
        let name = format!("{}_loss{}", self.base, self.count);
        let t = Tensor::from_f64s(dtype, &[], &[v])
            .ok_or_else(|| nnopt_compiler::Error::new(format!("a loss on {dtype} data")))?;
        Ok(self.imp.add_const(&name, t, None))
    }
}

/// NegativeLogLikelihoodLoss.
pub(super) fn nll(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let mut s = Steps {
        imp,
        base: cx.out(0).to_string(),
        count: 0,
    };
    let loss = nll_of(&mut s, cx, cx.input(0)?)?;
    s.imp.emit(Op::Identity, &[loss], cx.out(0))
}

/// SoftmaxCrossEntropyLoss: the NLL of the log-softmax over the classes; output 1 is the
/// log-probabilities.
pub(super) fn softmax_cross_entropy(imp: &mut Importer, cx: &NodeCtx) -> Result<Vec<ValueRef>> {
    let mut s = Steps {
        imp,
        base: cx.out(0).to_string(),
        count: 0,
    };
    let log_prob = s.emit(Op::LogSoftmax { axis: 1 }, &[cx.input(0)?])?;
    let loss = nll_of(&mut s, cx, log_prob)?;
    let mut outs = vec![s.imp.emit(Op::Identity, &[loss], cx.out(0))?];
    if cx.wants_output(1) {
        outs.push(s.imp.emit(Op::Identity, &[log_prob], cx.out(1))?);
    }
    Ok(outs)
}

/// The reduced negative log-likelihood of log-probabilities `input` `[N, C, d...]`.
fn nll_of(s: &mut Steps, cx: &NodeCtx, input: ValueRef) -> Result<ValueRef> {
    let target = cx.input(1)?;
    let (xs, ts) = (s.imp.shape(input), s.imp.shape(target));
    let dtype = s.imp.ty(input).dtype;
    if xs.len() < 2 || ts.len() + 1 != xs.len() || ts[0] != xs[0] || ts[1..] != xs[2..] {
        return Err(cx.err(format!("target {ts:?} does not match input {xs:?}")));
    }
    if !matches!(s.imp.ty(target).dtype, DType::I32 | DType::I64) {
        return Err(cx.err("target must be int32 or int64"));
    }
    let tdtype = s.imp.ty(target).dtype;
    // Ignored targets read class 0 and get weight 0.
    let (target, valid) = if cx.has("ignore_index") {
        let ignore = s.constant(tdtype, cx.int("ignore_index", 0)? as f64)?;
        let ignored = s.emit(
            Op::Compare {
                kind: CompareKind::Equal,
            },
            &[target, ignore],
        )?;
        let zero = s.constant(tdtype, 0.0)?;
        let safe = s.emit(Op::Where, &[ignored, zero, target])?;
        (safe, Some(ignored))
    } else {
        (target, None)
    };
    let mut index_shape = ts.clone();
    index_shape.insert(1, 1);
    let index = s.emit(Op::Reshape { shape: index_shape }, &[target])?;
    let picked = s.emit(Op::GatherElements { axis: 1 }, &[input, index])?;
    let picked = s.emit(Op::Reshape { shape: ts.clone() }, &[picked])?;
    let mut weight = match cx.opt_input(2) {
        Some(w) => s.emit(Op::Gather { axis: 0 }, &[w, target])?,
        None => {
            let one = s.constant(dtype, 1.0)?;
            s.emit(Op::Expand { shape: ts.clone() }, &[one])?
        }
    };
    if let Some(ignored) = valid {
        let zero = s.constant(dtype, 0.0)?;
        weight = s.emit(Op::Where, &[ignored, zero, weight])?;
    }
    let weighted = s.binary(BinaryKind::Mul, picked, weight)?;
    let minus = s.constant(dtype, -1.0)?;
    let loss = s.binary(BinaryKind::Mul, weighted, minus)?;
    let all: Vec<usize> = (0..ts.len()).collect();
    let sum = |s: &mut Steps, x| {
        s.emit(
            Op::Reduce {
                kind: ReduceKind::Sum,
                axes: all.clone(),
                keep_dims: false,
            },
            &[x],
        )
    };
    match cx.string("reduction", "mean")?.as_str() {
        "none" => Ok(loss),
        "sum" => sum(s, loss),
        "mean" => {
            let total = sum(s, loss)?;
            let weights = sum(s, weight)?;
            s.binary(BinaryKind::Div, total, weights)
        }
        other => Err(cx.err(format!("reduction '{other}' is not supported"))),
    }
}
