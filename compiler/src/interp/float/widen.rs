//! Half, bfloat16 and double precision: kernels that compute run in f32 on widened
//! operands, and their float results round back to the declared type. Ops that only move
//! values work on every dtype and are not widened.

use crate::interp::Operand;
use crate::ir::{DType, Tensor, TensorType};
use crate::{Error, Result};

/// Whether an operand or result of a computing op has a widened float type.
pub(super) fn needed(inputs: &[Operand<'_>], outputs: &[TensorType]) -> bool {
    inputs.iter().any(|o| o.data.dtype().is_widened_float())
        || outputs.iter().any(|t| t.dtype.is_widened_float())
}

/// `eval` on f32 copies of the widened operands, with the results converted back to the
/// declared output types.
pub(super) fn eval(
    inputs: &[Operand<'_>],
    outputs: &[TensorType],
    eval: impl FnOnce(&[Operand<'_>], &[TensorType]) -> Result<Vec<Tensor>>,
) -> Result<Vec<Tensor>> {
    let widened: Vec<Option<(Tensor, TensorType)>> = inputs
        .iter()
        .map(|o| {
            o.data.dtype().is_widened_float().then(|| {
                let t = to_dtype(o.data, DType::F32);
                let mut ty = o.ty.clone();
                ty.dtype = DType::F32;
                (t, ty)
            })
        })
        .collect();
    let operands: Vec<Operand<'_>> = inputs
        .iter()
        .zip(&widened)
        .map(|(o, w)| match w {
            Some((data, ty)) => Operand { data, ty },
            None => *o,
        })
        .collect();
    let f32_outputs: Vec<TensorType> = outputs
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if t.dtype.is_widened_float() {
                t.dtype = DType::F32;
            }
            t
        })
        .collect();
    let results = eval(&operands, &f32_outputs)?;
    results
        .into_iter()
        .zip(outputs)
        .map(|(t, ty)| {
            if ty.dtype.is_widened_float() && t.dtype() == DType::F32 {
                Ok(to_dtype(&t, ty.dtype))
            } else if ty.dtype.is_widened_float() {
                Err(Error::new(format!(
                    "a {} result cannot become {}",
                    t.dtype(),
                    ty.dtype
                )))
            } else {
                Ok(t)
            }
        })
        .collect()
}

/// `t` converted to the float type `to`, rounding to nearest even.
fn to_dtype(t: &Tensor, to: DType) -> Tensor {
    Tensor::from_f64s(to, t.shape(), &t.to_f64_vec()).expect("a float type and a matching shape")
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn results_round_to_the_declared_half_type() {
        let x = Tensor::F16(ArrayD::from_shape_vec(IxDyn(&[2]), vec![f16::ONE, f16::MAX]).unwrap());
        let ty = x.tensor_type();
        let out = eval(
            &[Operand { data: &x, ty: &ty }],
            std::slice::from_ref(&ty),
            |ins, outs| {
                assert_eq!(ins[0].data.dtype(), DType::F32);
                assert_eq!(outs[0].dtype, DType::F32);
                let v: Vec<f64> = ins[0].data.to_f64_vec().iter().map(|v| v * 3.0).collect();
                Ok(vec![Tensor::from_f64s(DType::F32, &[2], &v).unwrap()])
            },
        )
        .unwrap();
        let Tensor::F16(o) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(o[0], f16::from_f32(3.0));
        assert!(
            o[1].is_infinite(),
            "overflow past f16::MAX rounds to infinity"
        );
    }
}
