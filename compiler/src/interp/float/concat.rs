//! Concat and Split along one axis (any dtype).

use super::util::{any_variant, arity, check_axis, input, standard};
use crate::interp::Operand;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::{Axis, Slice};

/// Concatenation of all operands (same dtype, equal off-axis dimensions).
pub(super) fn concat(axis: usize, inputs: &[Operand<'_>]) -> Result<Tensor> {
    let first = input(inputs, 0)?;
    check_axis(axis, first.shape(), "concat")?;
    Ok(any_variant!(first, V(_a) => {
        let mut views = Vec::with_capacity(inputs.len());
        for o in inputs {
            let V(a) = o.data else {
                bail!("concat inputs have different types {} and {}", first.dtype(), o.data.dtype());
            };
            views.push(a.view());
        }
        match ndarray::concatenate(Axis(axis), &views) {
            Ok(a) => V(standard(a)),
            Err(e) => bail!("cannot concatenate along axis {axis}: {e}"),
        }
    }))
}

/// Splits into consecutive pieces of `sizes` along `axis`.
pub(super) fn split(axis: usize, sizes: &[usize], inputs: &[Operand<'_>]) -> Result<Vec<Tensor>> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    check_axis(axis, x.shape(), "split")?;
    if sizes.iter().sum::<usize>() != x.shape()[axis] {
        bail!(
            "split sizes {sizes:?} do not sum to dimension {} of {:?}",
            axis,
            x.shape()
        );
    }
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for &s in sizes {
        let range = Slice::from(start..start + s);
        out.push(
            any_variant!(x, V(a) => { V(standard(a.slice_axis(Axis(axis), range).to_owned())) }),
        );
        start += s;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn concat_then_split_round_trips() {
        let a = f32t(&[2, 1], &[1.0, 2.0]);
        let b = f32t(&[2, 2], &[3.0, 4.0, 5.0, 6.0]);
        let c = concat(1, &[op(&a), op(&b)]).unwrap();
        assert_eq!(c, f32t(&[2, 3], &[1.0, 3.0, 4.0, 2.0, 5.0, 6.0]));
        let parts = split(1, &[1, 2], &[op(&c)]).unwrap();
        assert_eq!(parts, vec![a, b]);
    }

    #[test]
    fn concat_integers_and_errors() {
        let a = Tensor::I64(array![1i64, 2].into_dyn());
        let b = Tensor::I64(array![3i64].into_dyn());
        assert_eq!(
            concat(0, &[op(&a), op(&b)]).unwrap(),
            Tensor::I64(array![1i64, 2, 3].into_dyn())
        );
        let f = f32t(&[1], &[0.0]);
        assert!(concat(0, &[op(&a), op(&f)]).is_err());
        assert!(concat(1, &[op(&a), op(&b)]).is_err());
        assert!(concat(0, &[]).is_err());
        assert!(split(0, &[1, 1], &[op(&b)]).is_err());
    }
}
