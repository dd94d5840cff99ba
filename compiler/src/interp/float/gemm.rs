//! Gemm: `alpha * op(a) @ op(b) + beta * c` on 2-D f32 operands.

use super::util::{activate, arity, f32_input};
use crate::interp::Operand;
use crate::ir::{Activation, Tensor};
use crate::kernels::mat_mul;
use crate::{bail, Result};
use ndarray::{Ix2, IxDyn};

/// Gemm with optional transposes, bias `c` broadcast to `(m, n)`, then the activation.
pub(super) fn gemm(
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
    act: Option<Activation>,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 2, 3)?;
    let two_d = |i: usize, what: &str| {
        let a = f32_input(inputs, i, what)?;
        match a.view().into_dimensionality::<Ix2>() {
            Ok(v) => Ok(v),
            Err(_) => bail!("{what} must have rank 2, got shape {:?}", a.shape()),
        }
    };
    let a = two_d(0, "gemm A")?;
    let b = two_d(1, "gemm B")?;
    let a = if trans_a { a.reversed_axes() } else { a };
    let b = if trans_b { b.reversed_axes() } else { b };
    if a.ncols() != b.nrows() {
        bail!(
            "gemm inner dimensions differ: {:?} x {:?}",
            a.shape(),
            b.shape()
        );
    }
    let mut out = mat_mul(a, b);
    if alpha != 1.0 {
        out *= alpha;
    }
    if inputs.len() == 3 {
        let c = f32_input(inputs, 2, "gemm C")?;
        let dim = out.raw_dim();
        let Some(cb) = c.broadcast(IxDyn(&[dim[0], dim[1]])) else {
            bail!(
                "gemm C of shape {:?} does not broadcast to {:?}",
                c.shape(),
                out.shape()
            );
        };
        out.zip_mut_with(&cb, |o, &c| *o += beta * c);
    }
    let mut out = out.into_dyn();
    activate(&mut out, act);
    Ok(Tensor::F32(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};

    #[test]
    fn gemm_transposes_scales_and_adds_bias() {
        // A^T with A = [[1, 3], [2, 4]] is [[1, 2], [3, 4]]; B = I * 2.
        let a = f32t(&[2, 2], &[1.0, 3.0, 2.0, 4.0]);
        let b = f32t(&[2, 2], &[2.0, 0.0, 0.0, 2.0]);
        let c = f32t(&[2], &[1.0, -100.0]);
        let out = gemm(0.5, 2.0, true, false, None, &[op(&a), op(&b), op(&c)]).unwrap();
        assert_eq!(out, f32t(&[2, 2], &[3.0, -198.0, 5.0, -196.0]));
        let out = gemm(
            0.5,
            2.0,
            true,
            false,
            Some(Activation::Relu),
            &[op(&a), op(&b), op(&c)],
        )
        .unwrap();
        assert_eq!(out, f32t(&[2, 2], &[3.0, 0.0, 5.0, 0.0]));
    }

    #[test]
    fn gemm_trans_b_and_shape_errors() {
        let a = f32t(&[1, 3], &[1.0, 2.0, 3.0]);
        let b = f32t(&[2, 3], &[1.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
        let out = gemm(1.0, 1.0, false, true, None, &[op(&a), op(&b)]).unwrap();
        assert_eq!(out, f32t(&[1, 2], &[1.0, 5.0]));
        assert!(gemm(1.0, 1.0, false, false, None, &[op(&a), op(&b)]).is_err());
        let bad_c = f32t(&[3], &[0.0; 3]);
        assert!(gemm(1.0, 1.0, false, true, None, &[op(&a), op(&b), op(&bad_c)]).is_err());
        let v = f32t(&[3], &[0.0; 3]);
        assert!(gemm(1.0, 1.0, false, true, None, &[op(&v), op(&b)]).is_err());
    }
}
