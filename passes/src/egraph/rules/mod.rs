//! The rule set, one family per file.

mod activation;
mod algebra;
mod batchnorm;
mod concat;
mod gemm;
mod layout;
mod pad;

use super::rule::{Ctx, Rule};
use egg::Id;
use nnopt_compiler::ir::{Activation, DType, Tensor, TensorType};
use std::sync::Arc;

/// Every rule, grouped by family (the family names are those of the tests and of
/// `egraph-optimize`'s `rules` option).
pub fn families() -> Vec<(&'static str, Vec<Arc<dyn Rule>>)> {
    vec![
        ("algebra", algebra::rules()),
        ("layout", layout::rules()),
        ("batchnorm", batchnorm::rules()),
        ("gemm", gemm::rules()),
        ("pad", pad::rules()),
        ("activation", activation::rules()),
        ("concat", concat::rules()),
    ]
}

/// The activation that clamps to `[lo, hi]`.
fn clamp_activation(lo: f32, hi: f32) -> Activation {
    match (lo, hi) {
        (0.0, f32::INFINITY) => Activation::Relu,
        (0.0, 6.0) => Activation::Relu6,
        (-1.0, 1.0) => Activation::ReluN1To1,
        (min, max) => Activation::Clip { min, max },
    }
}

/// An f32 tensor of `shape` holding `values`.
fn f32_tensor(shape: &[usize], values: &[f32]) -> Tensor {
    let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    Tensor::from_f64s(DType::F32, shape, &v).expect("values match the shape")
}

/// The per-channel values of constant class `c` when, broadcast against a tensor of type
/// `out`, it varies at most along `axis` and does not change `out`'s shape: one value
/// per index of `axis`.
fn per_channel(cx: &Ctx<'_>, c: Id, out: &TensorType, axis: usize) -> Option<Vec<f32>> {
    let values = cx.f32_values(c)?;
    let shape = &cx.ty(c).shape;
    let rank = out.shape.len();
    if shape.len() > rank || axis >= rank {
        return None;
    }
    let offset = rank - shape.len();
    let channels = out.shape[axis];
    let mut varies = false;
    for (i, &d) in shape.iter().enumerate() {
        let a = i + offset;
        if a == axis && d == channels {
            varies = d != 1;
        } else if d != 1 {
            return None;
        }
    }
    Some(if varies {
        values
    } else {
        vec![*values.first()?; channels]
    })
}
