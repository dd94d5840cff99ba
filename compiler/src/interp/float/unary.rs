//! Elementwise functions of one operand ([`UnaryFunc`]).

use super::util::{arity, input};
use crate::interp::Operand;
use crate::ir::{Tensor, UnaryFunc};
use crate::{bail, Result};
use ndarray::ArrayD;

/// Applies `func` elementwise: floats for most functions; `Abs`, `Neg` and `Sign` also on
/// integers, `Not` on booleans and integers.
pub(super) fn unary(func: UnaryFunc, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    if let Tensor::F32(a) = x {
        return Ok(match func {
            UnaryFunc::IsNan => Tensor::Bool(a.mapv(f32::is_nan)),
            UnaryFunc::IsInf { positive, negative } => Tensor::Bool(
                a.mapv(|v| v.is_infinite() && ((v > 0.0 && positive) || (v < 0.0 && negative))),
            ),
            UnaryFunc::Not => bail!("not needs booleans or integers, got f32"),
            f => Tensor::F32(a.mapv(|v| float(f, v))),
        });
    }
    macro_rules! ints {
        ($($V:ident),*) => {
            match x {
                $(Tensor::$V(a) => return Ok(Tensor::$V(integer(func, a)?)),)*
                _ => {}
            }
        };
    }
    ints!(I8, U8, I16, I32, I64, U16, U32, U64);
    match (x, func) {
        (Tensor::Bool(a), UnaryFunc::Not) => Ok(Tensor::Bool(a.mapv(|v| !v))),
        _ => bail!("{func:?} does not support {} data", x.dtype()),
    }
}

/// Integer elementwise functions: wrapping `Abs` and `Neg`, `Sign`, bitwise `Not`.
fn integer<T>(func: UnaryFunc, a: &ArrayD<T>) -> Result<ArrayD<T>>
where
    T: num_traits::PrimInt + num_traits::WrappingNeg,
{
    let zero = T::zero();
    Ok(match func {
        UnaryFunc::Abs => a.mapv(|v| if v < zero { v.wrapping_neg() } else { v }),
        UnaryFunc::Neg => a.mapv(|v| v.wrapping_neg()),
        UnaryFunc::Sign => a.mapv(|v| {
            if v > zero {
                T::one()
            } else if v < zero {
                T::one().wrapping_neg()
            } else {
                zero
            }
        }),
        UnaryFunc::Not => a.mapv(|v| !v),
        f => bail!("{f:?} needs float data"),
    })
}

/// One float function value (computed in f64 where f32 lacks the function or precision).
pub(in crate::interp) fn float(func: UnaryFunc, x: f32) -> f32 {
    let d = x as f64;
    match func {
        UnaryFunc::Exp => x.exp(),
        UnaryFunc::Log => x.ln(),
        UnaryFunc::Sqrt => x.sqrt(),
        UnaryFunc::Rsqrt => 1.0 / x.sqrt(),
        UnaryFunc::Reciprocal => 1.0 / x,
        UnaryFunc::Abs => x.abs(),
        UnaryFunc::Neg => -x,
        UnaryFunc::Floor => x.floor(),
        UnaryFunc::Ceil => x.ceil(),
        UnaryFunc::Round => x.round_ties_even(),
        UnaryFunc::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        UnaryFunc::Erf => libm::erf(d) as f32,
        UnaryFunc::Sin => x.sin(),
        UnaryFunc::Cos => x.cos(),
        UnaryFunc::Tan => x.tan(),
        UnaryFunc::Asin => x.asin(),
        UnaryFunc::Acos => x.acos(),
        UnaryFunc::Atan => x.atan(),
        UnaryFunc::Sinh => x.sinh(),
        UnaryFunc::Cosh => x.cosh(),
        UnaryFunc::Asinh => x.asinh(),
        UnaryFunc::Acosh => x.acosh(),
        UnaryFunc::Atanh => x.atanh(),
        UnaryFunc::Softplus => softplus(d) as f32,
        UnaryFunc::Softsign => x / (1.0 + x.abs()),
        UnaryFunc::Mish => (d * softplus(d).tanh()) as f32,
        UnaryFunc::Elu { alpha } => {
            if x > 0.0 {
                x
            } else {
                alpha * x.exp_m1()
            }
        }
        UnaryFunc::Selu { alpha, gamma } => {
            if x > 0.0 {
                gamma * x
            } else {
                gamma * alpha * x.exp_m1()
            }
        }
        UnaryFunc::Celu { alpha } => x.max(0.0) + (alpha * (x / alpha).exp_m1()).min(0.0),
        UnaryFunc::ThresholdedRelu { alpha } => {
            if x > alpha {
                x
            } else {
                0.0
            }
        }
        UnaryFunc::Gelu { tanh: false } => {
            (0.5 * d * (1.0 + libm::erf(d / std::f64::consts::SQRT_2))) as f32
        }
        UnaryFunc::Gelu { tanh: true } => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            (0.5 * d * (1.0 + (k * (d + 0.044715 * d * d * d)).tanh())) as f32
        }
        UnaryFunc::Swish { alpha } => x / (1.0 + (-alpha * x).exp()),
        UnaryFunc::Shrink { bias, lambd } => {
            if x < -lambd {
                x + bias
            } else if x > lambd {
                x - bias
            } else {
                0.0
            }
        }
        UnaryFunc::Not | UnaryFunc::IsNan | UnaryFunc::IsInf { .. } => {
            unreachable!("handled by the caller")
        }
    }
}

/// `ln(1 + e^x)` without overflow for large `x`.
fn softplus(x: f64) -> f64 {
    if x > 30.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    fn f(func: UnaryFunc, xs: &[f32]) -> Vec<f32> {
        let x = f32t(&[xs.len()], xs);
        let Tensor::F32(o) = unary(func, &[op(&x)]).unwrap() else {
            panic!()
        };
        o.into_raw_vec_and_offset().0
    }

    #[test]
    fn float_functions_match_their_definitions() {
        assert_eq!(f(UnaryFunc::Round, &[0.5, 1.5, -2.5]), [0.0, 2.0, -2.0]);
        assert_eq!(f(UnaryFunc::Sign, &[-3.0, 0.0, 2.0]), [-1.0, 0.0, 1.0]);
        let e = f(UnaryFunc::Erf, &[0.5])[0];
        assert!((e - 0.520_499_9).abs() < 1e-6, "{e}");
        let g = f(UnaryFunc::Gelu { tanh: false }, &[1.0])[0];
        assert!((g - 0.841_344_7).abs() < 1e-6, "{g}");
        assert_eq!(f(UnaryFunc::Softplus, &[100.0]), [100.0]);
        let s = f(
            UnaryFunc::Shrink {
                bias: 0.5,
                lambd: 1.0,
            },
            &[-2.0, 0.5, 2.0],
        );
        assert_eq!(s, [-1.5, 0.0, 1.5]);
    }

    #[test]
    fn integers_booleans_and_tests() {
        let i = Tensor::I32(array![-3, 0, 5].into_dyn());
        assert_eq!(
            unary(UnaryFunc::Abs, &[op(&i)]).unwrap(),
            Tensor::I32(array![3, 0, 5].into_dyn())
        );
        assert_eq!(
            unary(UnaryFunc::Sign, &[op(&i)]).unwrap(),
            Tensor::I32(array![-1, 0, 1].into_dyn())
        );
        let u = Tensor::U8(array![0u8, 255].into_dyn());
        assert_eq!(
            unary(UnaryFunc::Not, &[op(&u)]).unwrap(),
            Tensor::U8(array![255u8, 0].into_dyn())
        );
        let b = Tensor::Bool(array![true, false].into_dyn());
        assert_eq!(
            unary(UnaryFunc::Not, &[op(&b)]).unwrap(),
            Tensor::Bool(array![false, true].into_dyn())
        );
        let x = f32t(&[3], &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]);
        let only_positive = UnaryFunc::IsInf {
            positive: true,
            negative: false,
        };
        assert_eq!(
            unary(only_positive, &[op(&x)]).unwrap(),
            Tensor::Bool(array![false, true, false].into_dyn())
        );
        assert!(unary(UnaryFunc::Exp, &[op(&i)]).is_err());
        assert!(unary(UnaryFunc::Not, &[op(&x)]).is_err());
    }
}
