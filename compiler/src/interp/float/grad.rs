//! Gradient kernels of the training ops: activation, convolution (input and weights) and
//! mean softmax cross-entropy. Sums run in f32 in a fixed order.

use super::util::{arity, f32_input, input};
#[cfg(test)]
use crate::interp::conv_geometry::ConvGeometry;
use crate::interp::Operand;
#[cfg(test)]
use crate::ir::ConvAttrs;
use crate::ir::{Activation, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// `act'(x) * dy`.
pub(super) fn activation_grad(act: Activation, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let x = f32_input(inputs, 0, "activation gradient input")?;
    let dy = f32_input(inputs, 1, "output gradient")?;
    if x.shape() != dy.shape() {
        bail!("input {:?} and gradient {:?} differ", x.shape(), dy.shape());
    }
    let mut dx = dy.clone();
    dx.zip_mut_with(x, |g, &v| *g *= act.derivative(v));
    Ok(Tensor::F32(dx))
}

/// Contiguous f32 values of input `i`.
#[cfg(test)]
fn values(inputs: &[Operand<'_>], i: usize, what: &str) -> Result<Vec<f32>> {
    Ok(f32_input(inputs, i, what)?.iter().copied().collect())
}

/// Convolution gradients: with respect to the input (`wrt_input`) or the weights. Every
/// output element spreads `dy` over the taps it read: the definition, which the fast
/// gradient kernels are tested against.
#[cfg(test)]
pub(super) fn conv_grad(c: &ConvAttrs, wrt_input: bool, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 3, 3)?;
    let (x, w, dy) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
    let geo = ConvGeometry::new(c, x.shape(), w.shape(), dy.shape())?;
    let dyv = values(inputs, 2, "output gradient")?;
    let (shape, grad) = if wrt_input {
        let wv = values(inputs, 1, "weights")?;
        let mut dx = vec![0f32; x.len()];
        geo.for_each_output(|oi, _, taps| {
            let g = dyv[oi];
            taps.fold((), |(), xi, wi| dx[xi] += wv[wi] * g);
        });
        (x.shape(), dx)
    } else {
        let xv = values(inputs, 0, "input")?;
        let mut dw = vec![0f32; w.len()];
        geo.for_each_output(|oi, _, taps| {
            let g = dyv[oi];
            taps.fold((), |(), xi, wi| dw[wi] += xv[xi] * g);
        });
        (w.shape(), dw)
    };
    let a = ArrayD::from_shape_vec(IxDyn(shape), grad).expect("sized like the operand");
    Ok(Tensor::F32(a))
}

/// Labels as class indices, checked against `classes`.
fn labels(inputs: &[Operand<'_>], classes: usize) -> Result<Vec<usize>> {
    let l = input(inputs, 1)?;
    let Some(v) = l.to_i64_vec() else {
        bail!("labels must be integers, got {}", l.dtype());
    };
    v.iter()
        .map(|&k| {
            usize::try_from(k)
                .ok()
                .filter(|&k| k < classes)
                .ok_or_else(|| {
                    crate::Error::new(format!("label {k} is not a class in 0..{classes}"))
                })
        })
        .collect()
}

/// Softmax of each row of `[N, C]` logits, with the labels.
fn softmax_rows(inputs: &[Operand<'_>]) -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
    arity(inputs, 2, 2)?;
    let logits = f32_input(inputs, 0, "logits")?;
    let [n, c] = logits.shape() else {
        bail!("logits must be [N, C], got {:?}", logits.shape());
    };
    let labels = labels(inputs, *c)?;
    if labels.len() != *n {
        bail!("{} labels for {n} rows", labels.len());
    }
    let rows = logits
        .rows()
        .into_iter()
        .map(|r| {
            let m = r.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let e: Vec<f32> = r.iter().map(|&v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.iter().map(|v| v / s).collect()
        })
        .collect();
    Ok((rows, labels))
}

/// Mean over rows of `-log softmax(logits)[label]`.
pub(super) fn softmax_cross_entropy(inputs: &[Operand<'_>]) -> Result<Tensor> {
    let (rows, labels) = softmax_rows(inputs)?;
    let n = rows.len().max(1) as f32;
    let loss: f32 = rows
        .iter()
        .zip(&labels)
        .map(|(p, &k)| -p[k].max(f32::MIN_POSITIVE).ln())
        .sum();
    Ok(Tensor::F32(ArrayD::from_elem(IxDyn(&[]), loss / n)))
}

/// `(softmax(logits) - onehot(labels)) / N`.
pub(super) fn softmax_cross_entropy_grad(inputs: &[Operand<'_>]) -> Result<Tensor> {
    let (rows, labels) = softmax_rows(inputs)?;
    let (n, c) = (rows.len(), rows.first().map_or(0, Vec::len));
    let mut g = Vec::with_capacity(n * c);
    for (p, &k) in rows.iter().zip(&labels) {
        g.extend(p.iter().enumerate().map(|(j, &v)| {
            let target = if j == k { 1.0 } else { 0.0 };
            (v - target) / n as f32
        }));
    }
    Ok(Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, c]), g).expect("n x c values"),
    ))
}
