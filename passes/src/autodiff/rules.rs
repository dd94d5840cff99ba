//! The gradient of each op with respect to its inputs, as IR ops.

use super::Builder;
use nnopt_compiler::ir::{BinaryKind, DType, GemmAttrs, Layout, Op, ReduceKind, Tensor, ValueRef};
use nnopt_compiler::{bail, Result};

/// Gradients of `op` (inputs `ins`, output gradient `dy`) for the inputs marked in
/// `wanted` (`None` for the others), named `d_<input>`.
pub(super) fn input_grads(
    b: &mut Builder,
    op: &Op,
    ins: &[ValueRef],
    dy: ValueRef,
    wanted: &[bool],
) -> Result<Vec<Option<ValueRef>>> {
    let names: Vec<String> = ins
        .iter()
        .map(|&v| format!("d_{}", b.g.value(v).name))
        .collect();
    let d = |k: usize| names[k].clone();
    let mut out = vec![None; ins.len()];
    match op {
        Op::Conv(c) => {
            let (x, w) = (ins[0], ins[1]);
            if wanted[0] {
                out[0] = Some(b.op(&d(0), Op::ConvGradInput(c.clone()), &[x, w, dy])?);
            }
            if wanted[1] {
                out[1] = Some(b.op(&d(1), Op::ConvGradWeights(c.clone()), &[x, w, dy])?);
            }
            if wanted.get(2) == Some(&true) {
                let axes = match c.layout {
                    Layout::Nchw => vec![0, 2, 3],
                    Layout::Nhwc => vec![0, 1, 2],
                };
                let sum = Op::Reduce {
                    kind: ReduceKind::Sum,
                    axes,
                    keep_dims: false,
                };
                out[2] = Some(b.op(&d(2), sum, &[dy])?);
            }
        }
        Op::Gemm(attrs) if attrs.activation.is_none() => {
            if !attrs.is_fully_connected() {
                bail!("gemm gradients need alpha = beta = 1 and A not transposed");
            }
            let gemm = |trans_a: bool, trans_b: bool| {
                Op::Gemm(GemmAttrs {
                    trans_a,
                    ..GemmAttrs::fully_connected(trans_b, None)
                })
            };
            let (a, w) = (ins[0], ins[1]);
            if wanted[0] {
                // y = a w (or a w^T): da = dy w^T (or dy w).
                out[0] = Some(b.op(&d(0), gemm(false, !attrs.trans_b), &[dy, w])?);
            }
            if wanted[1] {
                // dw = a^T dy (or dy^T a).
                let (l, r) = if attrs.trans_b { (dy, a) } else { (a, dy) };
                out[1] = Some(b.op(&d(1), gemm(true, false), &[l, r])?);
            }
            if wanted.get(2) == Some(&true) {
                let shape = b.g.ty(ins[2]).shape.clone();
                out[2] = Some(sum_to(b, &d(2), dy, &shape)?);
            }
        }
        Op::MatMul => {
            let (a, w) = (ins[0], ins[1]);
            if b.g.ty(a).shape.len() != 2 || b.g.ty(w).shape.len() != 2 {
                bail!("mat_mul gradients need two matrices (rank 2)");
            }
            let gemm = |trans_a: bool, trans_b: bool| {
                Op::Gemm(GemmAttrs {
                    trans_a,
                    ..GemmAttrs::fully_connected(trans_b, None)
                })
            };
            // y = a w: da = dy w^T, dw = a^T dy.
            if wanted[0] {
                out[0] = Some(b.op(&d(0), gemm(false, true), &[dy, w])?);
            }
            if wanted[1] {
                out[1] = Some(b.op(&d(1), gemm(true, false), &[a, dy])?);
            }
        }
        Op::Activation { act } => {
            out[0] = Some(b.op(&d(0), Op::ActivationGrad { act: *act }, &[ins[0], dy])?);
        }
        Op::Pool {
            pool,
            activation: None,
        } => {
            let grad = Op::PoolGrad(pool.clone());
            out[0] = Some(b.op(&d(0), grad, &[ins[0], dy])?);
        }
        Op::Reduce {
            kind: kind @ (ReduceKind::Mean | ReduceKind::Sum),
            axes,
            ..
        } => {
            let xs = b.g.ty(ins[0]).shape.clone();
            let mut kept = xs.clone();
            axes.iter().for_each(|&a| kept[a] = 1);
            let count: usize = axes.iter().map(|&a| xs[a]).product();
            let scale = if *kind == ReduceKind::Mean {
                1.0 / count as f64
            } else {
                1.0
            };
            let r = b.op(
                &format!("{}_kept", d(0)),
                Op::Reshape { shape: kept },
                &[dy],
            )?;
            let n: usize = xs.iter().product();
            let spread = Tensor::from_f64s(DType::F32, &xs, &vec![scale; n]).expect("sized");
            let s = b.constant(&format!("{}_spread", d(0)), spread);
            out[0] = Some(b.binary(&d(0), BinaryKind::Mul, r, s)?);
        }
        Op::Reshape { .. } => {
            let shape = b.g.ty(ins[0]).shape.clone();
            out[0] = Some(b.op(&d(0), Op::Reshape { shape }, &[dy])?);
        }
        Op::Transpose { perm } => {
            let mut inverse = vec![0; perm.len()];
            perm.iter().enumerate().for_each(|(i, &p)| inverse[p] = i);
            out[0] = Some(b.op(&d(0), Op::Transpose { perm: inverse }, &[dy])?);
        }
        Op::Identity => out[0] = Some(dy),
        // Straight through: quantization is treated as the identity backward.
        Op::Fp8FakeQuant { .. } => out[0] = Some(dy),
        Op::Binary {
            kind,
            activation: None,
        } => {
            let shapes = [b.g.ty(ins[0]).shape.clone(), b.g.ty(ins[1]).shape.clone()];
            for k in 0..2 {
                if !wanted[k] {
                    continue;
                }
                let g = match kind {
                    BinaryKind::Add => dy,
                    BinaryKind::Sub if k == 0 => dy,
                    BinaryKind::Sub => {
                        let m = b.scalar(&format!("{}_neg", d(k)), -1.0);
                        b.binary(&format!("{}_full", d(k)), BinaryKind::Mul, dy, m)?
                    }
                    BinaryKind::Mul => {
                        b.binary(&format!("{}_full", d(k)), BinaryKind::Mul, dy, ins[1 - k])?
                    }
                    k => bail!("no gradient for {k:?}"),
                };
                out[k] = Some(sum_to(b, &d(k), g, &shapes[k])?);
            }
        }
        op => bail!("no gradient for {}", op.name()),
    }
    Ok(out)
}

/// Sums a broadcast gradient back to `shape` (numpy broadcasting rules).
fn sum_to(b: &mut Builder, name: &str, g: ValueRef, shape: &[usize]) -> Result<ValueRef> {
    let gs = b.g.ty(g).shape.clone();
    if gs == shape {
        return Ok(g);
    }
    if shape.len() > gs.len() {
        bail!("cannot sum {gs:?} to {shape:?}");
    }
    let lead = gs.len() - shape.len();
    let axes: Vec<usize> = (0..gs.len())
        .filter(|&a| a < lead || (shape[a - lead] == 1 && gs[a] != 1))
        .collect();
    let sum = Op::Reduce {
        kind: ReduceKind::Sum,
        axes,
        keep_dims: true,
    };
    let s = b.op(&format!("{name}_sum"), sum, &[g])?;
    b.op(
        name,
        Op::Reshape {
            shape: shape.to_vec(),
        },
        &[s],
    )
}
