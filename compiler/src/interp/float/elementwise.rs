//! Elementwise kernels: broadcasting binary ops, PRelu and activations.

use super::num::Num;
use super::util::{activate, apply_fused_activation, arity, f32_input, input, num_variant};
use crate::interp::Operand;
use crate::ir::infer::broadcast_shapes;
use crate::ir::{Activation, BinaryKind, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn, Zip};

/// `f(a, b)` over the numpy broadcast of `a` and `b`.
pub(super) fn broadcast_zip<T: Copy, U>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    f: impl Fn(T, T) -> U,
) -> Result<ArrayD<U>> {
    if a.shape() == b.shape() {
        if let (Some(x), Some(y)) = (a.as_slice(), b.as_slice()) {
            let v = x.iter().zip(y).map(|(&x, &y)| f(x, y)).collect();
            return Ok(ArrayD::from_shape_vec(a.raw_dim(), v).expect("same element count"));
        }
    }
    if b.len() == 1 {
        if let (Some(x), Some(&y)) = (a.as_slice(), b.iter().next()) {
            let shape = broadcast_shapes(a.shape(), b.shape())?;
            let v = x.iter().map(|&x| f(x, y)).collect();
            return Ok(ArrayD::from_shape_vec(IxDyn(&shape), v).expect("same element count"));
        }
    }
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let (Some(av), Some(bv)) = (a.broadcast(IxDyn(&shape)), b.broadcast(IxDyn(&shape))) else {
        bail!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        );
    };
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

fn binary_typed<T: Num>(kind: BinaryKind, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<T>> {
    match kind {
        BinaryKind::Add => broadcast_zip(a, b, T::add),
        BinaryKind::Sub => broadcast_zip(a, b, T::sub),
        BinaryKind::Mul => broadcast_zip(a, b, T::mul),
        BinaryKind::Div => {
            if !T::FLOAT && b.iter().any(|&y| y.div(y).is_none()) {
                bail!("integer division by zero");
            }
            broadcast_zip(a, b, |x, y| x.div(y).unwrap_or_default())
        }
        BinaryKind::Max => broadcast_zip(a, b, T::max_nan),
        BinaryKind::Min => broadcast_zip(a, b, T::min_nan),
        BinaryKind::SquaredDifference => broadcast_zip(a, b, |x, y| {
            let d = x.sub(y);
            d.mul(d)
        }),
        BinaryKind::Pow => fallible(a, b, T::pow, "a negative integer exponent"),
        BinaryKind::Mod => fallible(a, b, |x, y| x.rem(y, false), "integer division by zero"),
        BinaryKind::Fmod => fallible(a, b, |x, y| x.rem(y, true), "integer division by zero"),
        BinaryKind::BitAnd
        | BinaryKind::BitOr
        | BinaryKind::BitXor
        | BinaryKind::ShiftLeft
        | BinaryKind::ShiftRight => fallible(a, b, |x, y| x.bits(y, kind), "float data"),
    }
}

/// `f(a, b)` over the broadcast, failing with `what` where `f` has no value.
fn fallible<T: Num>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    f: impl Fn(T, T) -> Option<T>,
    what: &str,
) -> Result<ArrayD<T>> {
    let out = broadcast_zip(a, b, f)?;
    if out.iter().any(Option::is_none) {
        bail!("undefined for {what}");
    }
    Ok(out.mapv(|v| v.unwrap_or_default()))
}

/// Bitwise ops on booleans (ONNX's logical And, Or and Xor).
fn logical(kind: BinaryKind, a: &ArrayD<bool>, b: &ArrayD<bool>) -> Result<ArrayD<bool>> {
    match kind {
        BinaryKind::BitAnd => broadcast_zip(a, b, |x, y| x & y),
        BinaryKind::BitOr => broadcast_zip(a, b, |x, y| x | y),
        BinaryKind::BitXor => broadcast_zip(a, b, |x, y| x ^ y),
        _ => bail!("{kind:?} does not support bool data"),
    }
}

/// Binary op with broadcasting (f32 or integers), then the fused activation (f32 only).
pub(super) fn binary(
    kind: BinaryKind,
    act: Option<Activation>,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let (a, b) = (input(inputs, 0)?, input(inputs, 1)?);
    if let (Tensor::Bool(x), Tensor::Bool(y)) = (a, b) {
        return Ok(Tensor::Bool(logical(kind, x, y)?));
    }
    let out = num_variant!(a, "binary", V(x) => {
        let V(y) = b else {
            bail!("binary operands have different types {} and {}", a.dtype(), b.dtype());
        };
        V(binary_typed(kind, x, y)?)
    });
    apply_fused_activation(out, act)
}

/// `x` where `x >= 0`, else `slope * x` (slope broadcast against x).
pub(super) fn prelu(inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let x = f32_input(inputs, 0, "prelu input")?;
    let s = f32_input(inputs, 1, "prelu slope")?;
    Ok(Tensor::F32(broadcast_zip(x, s, |x, s| {
        if x < 0.0 {
            s * x
        } else {
            x
        }
    })?))
}

/// A standalone activation: any activation on f32 data, clamps (Relu, Relu6, Clip, ...)
/// also on integers.
pub(super) fn activation(act: Activation, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    if let Tensor::F32(a) = x {
        let mut out = a.as_standard_layout().into_owned();
        activate(&mut out, Some(act));
        return Ok(Tensor::F32(out));
    }
    let Some((lo, hi)) = act.clamp_range() else {
        bail!("activation {act:?} needs f32 data, got {}", x.dtype());
    };
    Ok(num_variant!(x, "activation", V(a) => { V(clamp(a, lo, hi)) }))
}

fn clamp<T: Num>(a: &ArrayD<T>, lo: f32, hi: f32) -> ArrayD<T> {
    let (lo, hi) = (T::from_f32_sat(lo), T::from_f32_sat(hi));
    a.mapv(|v| v.max_nan(lo).min_nan(hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn add_broadcasts_rows_and_columns() {
        let a = f32t(&[2, 1], &[1.0, 2.0]);
        let b = f32t(&[3], &[10.0, 20.0, 30.0]);
        let out = binary(BinaryKind::Add, None, &[op(&a), op(&b)]).unwrap();
        assert_eq!(
            out,
            Tensor::F32(array![[11.0, 21.0, 31.0], [12.0, 22.0, 32.0]].into_dyn())
        );
    }

    #[test]
    fn sub_with_scalar_and_fused_relu() {
        let a = f32t(&[4], &[1.0, 2.0, 3.0, 4.0]);
        let b = f32t(&[], &[2.5]);
        let out = binary(BinaryKind::Sub, Some(Activation::Relu), &[op(&a), op(&b)]).unwrap();
        assert_eq!(out, f32t(&[4], &[0.0, 0.0, 0.5, 1.5]));
        let out = binary(BinaryKind::Sub, None, &[op(&b), op(&a)]).unwrap();
        assert_eq!(out, f32t(&[4], &[1.5, 0.5, -0.5, -1.5]));
    }

    #[test]
    fn max_min_propagate_nan() {
        let a = f32t(&[2], &[f32::NAN, 1.0]);
        let b = f32t(&[2], &[0.0, 3.0]);
        let Tensor::F32(o) = binary(BinaryKind::Max, None, &[op(&a), op(&b)]).unwrap() else {
            panic!()
        };
        assert!(o[0].is_nan() && o[1] == 3.0);
        let Tensor::F32(o) = binary(BinaryKind::Min, None, &[op(&a), op(&b)]).unwrap() else {
            panic!()
        };
        assert!(o[0].is_nan() && o[1] == 1.0);
    }

    #[test]
    fn integer_ops_truncate_and_reject_zero_division() {
        let a = Tensor::I64(array![7i64, -7, 9].into_dyn());
        let b = Tensor::I64(array![2i64, 2, -4].into_dyn());
        let out = binary(BinaryKind::Div, None, &[op(&a), op(&b)]).unwrap();
        assert_eq!(out, Tensor::I64(array![3i64, -3, -2].into_dyn()));
        let out = binary(BinaryKind::Mul, None, &[op(&a), op(&b)]).unwrap();
        assert_eq!(out, Tensor::I64(array![14i64, -14, -36].into_dyn()));
        let z = Tensor::I64(array![1i64, 0, 1].into_dyn());
        assert!(binary(BinaryKind::Div, None, &[op(&a), op(&z)]).is_err());
        let i32s = Tensor::I32(array![1, 2, 3].into_dyn());
        assert!(binary(BinaryKind::Add, None, &[op(&a), op(&i32s)]).is_err());
        assert!(binary(BinaryKind::Add, Some(Activation::Relu), &[op(&a), op(&b)]).is_err());
        let bools = Tensor::Bool(array![true].into_dyn());
        assert!(binary(BinaryKind::Add, None, &[op(&bools), op(&bools)]).is_err());
    }

    #[test]
    fn incompatible_shapes_fail() {
        let a = f32t(&[2], &[1.0, 2.0]);
        let b = f32t(&[3], &[1.0, 2.0, 3.0]);
        assert!(binary(BinaryKind::Add, None, &[op(&a), op(&b)]).is_err());
    }

    #[test]
    fn prelu_uses_broadcast_slope() {
        let x = f32t(&[1, 2, 2], &[-1.0, 2.0, -3.0, 4.0]);
        let s = f32t(&[2, 1], &[0.1, 0.5]);
        let out = prelu(&[op(&x), op(&s)]).unwrap();
        let Tensor::F32(o) = out else { panic!() };
        let want = [-0.1, 2.0, -1.5, 4.0];
        assert!(o.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn activation_applies_elementwise() {
        let x = f32t(&[3], &[-4.0, 0.0, 8.0]);
        let out = activation(Activation::Relu6, &[op(&x)]).unwrap();
        assert_eq!(out, f32t(&[3], &[0.0, 0.0, 6.0]));
        let out = activation(Activation::Sigmoid, &[op(&x)]).unwrap();
        let Tensor::F32(o) = out else { panic!() };
        assert!((o[1] - 0.5).abs() < 1e-7);
        let i = Tensor::I8(array![-128i8, 5, 127].into_dyn());
        let clip = Activation::Clip {
            min: -3.0,
            max: f32::INFINITY,
        };
        assert_eq!(
            activation(clip, &[op(&i)]).unwrap(),
            Tensor::I8(array![-3i8, 5, 127].into_dyn())
        );
        assert_eq!(
            activation(Activation::Relu, &[op(&i)]).unwrap(),
            Tensor::I8(array![0i8, 5, 127].into_dyn())
        );
        assert!(activation(Activation::Tanh, &[op(&i)]).is_err());
    }
}
