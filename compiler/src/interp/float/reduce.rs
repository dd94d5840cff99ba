//! Reductions (mean, max, min, sum) over a set of axes.

use super::num::Num;
use super::util::{arity, check_axis, input, num_variant};
use crate::interp::Operand;
use crate::ir::{ReduceKind, Tensor};
use crate::Result;
use ndarray::{ArrayD, Axis};

/// Reduces `axes` (in any order, duplicates ignored); `keep_dims` keeps them as size 1.
/// Max and min propagate NaN; over an empty axis they give the type's lowest/highest value.
pub(super) fn reduce(
    kind: ReduceKind,
    axes: &[usize],
    keep_dims: bool,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    for &a in axes {
        check_axis(a, x.shape(), "reduce")?;
    }
    let mut axes = axes.to_vec();
    axes.sort_unstable();
    axes.dedup();
    Ok(num_variant!(x, "reduce", V(a) => { V(reduce_typed(kind, &axes, keep_dims, a)) }))
}

fn reduce_typed<T: Num>(
    kind: ReduceKind,
    axes: &[usize],
    keep_dims: bool,
    x: &ArrayD<T>,
) -> ArrayD<T> {
    let (init, f): (T, fn(T, T) -> T) = match kind {
        ReduceKind::Sum | ReduceKind::Mean => (T::default(), T::add),
        ReduceKind::Max => (T::LOWEST, T::max_nan),
        ReduceKind::Min => (T::HIGHEST, T::min_nan),
    };
    let mut out = x.clone();
    let mut count = 1;
    for &a in axes.iter().rev() {
        count *= x.shape()[a];
        out = out.fold_axis(Axis(a), init, |&acc, &v| f(acc, v));
        if keep_dims {
            out.insert_axis_inplace(Axis(a));
        }
    }
    if kind == ReduceKind::Mean {
        let n = T::from_usize(count);
        out.mapv_inplace(|v| v.div(n).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn reduces_axes_with_and_without_keep_dims() {
        let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 9.0]);
        assert_eq!(
            reduce(ReduceKind::Sum, &[1], false, &[op(&x)]).unwrap(),
            f32t(&[2], &[6.0, 18.0])
        );
        assert_eq!(
            reduce(ReduceKind::Mean, &[0], true, &[op(&x)]).unwrap(),
            f32t(&[1, 3], &[2.5, 3.5, 6.0])
        );
        assert_eq!(
            reduce(ReduceKind::Max, &[1, 0], false, &[op(&x)]).unwrap(),
            f32t(&[], &[9.0])
        );
        assert_eq!(
            reduce(ReduceKind::Min, &[0, 1], true, &[op(&x)]).unwrap(),
            f32t(&[1, 1], &[1.0])
        );
        assert_eq!(reduce(ReduceKind::Sum, &[], false, &[op(&x)]).unwrap(), x);
    }

    #[test]
    fn integer_reduction_and_errors() {
        let x = Tensor::I64(array![[1i64, -4], [3, 8]].into_dyn());
        let out = reduce(ReduceKind::Sum, &[0], false, &[op(&x)]).unwrap();
        assert_eq!(out, Tensor::I64(array![4i64, 4].into_dyn()));
        let out = reduce(ReduceKind::Mean, &[1], false, &[op(&x)]).unwrap();
        assert_eq!(out, Tensor::I64(array![-1i64, 5].into_dyn()));
        assert!(reduce(ReduceKind::Sum, &[2], false, &[op(&x)]).is_err());
        let b = Tensor::Bool(array![true].into_dyn());
        assert!(reduce(ReduceKind::Sum, &[0], false, &[op(&b)]).is_err());
    }
}
