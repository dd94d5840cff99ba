//! Reductions (mean, max, min, sum, product) over a set of axes.

use super::num::Num;
use super::util::{arity, check_axis, input, num_variant};
use crate::interp::Operand;
use crate::ir::{ReduceKind, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, Axis};

/// Reduces `axes` (in any order, duplicates ignored); `keep_dims` keeps them as size 1.
/// Max and min propagate NaN; over an empty axis they give the type's lowest/highest value
/// (a sum 0, a product 1).
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
    if let Tensor::Bool(a) = x {
        // Max is "any", min is "all".
        let (init, f): (bool, fn(bool, bool) -> bool) = match kind {
            ReduceKind::Max => (false, |a, b| a || b),
            ReduceKind::Min => (true, |a, b| a && b),
            _ => bail!("reduce {kind:?} does not support bool data"),
        };
        return Ok(Tensor::Bool(fold_axes(a, &axes, keep_dims, init, f)));
    }
    Ok(num_variant!(x, "reduce", V(a) => { V(reduce_typed(kind, &axes, keep_dims, a)) }))
}

/// Folds `x` over `axes` (sorted, distinct) with `f` starting from `init`.
fn fold_axes<T: Clone>(
    x: &ArrayD<T>,
    axes: &[usize],
    keep_dims: bool,
    init: T,
    f: fn(T, T) -> T,
) -> ArrayD<T> {
    if x.is_empty() {
        // Nothing to fold (and folding an empty array along a long axis would walk it).
        let shape: Vec<usize> = (0..x.ndim())
            .filter_map(|i| match axes.contains(&i) {
                false => Some(x.shape()[i]),
                true => keep_dims.then_some(1),
            })
            .collect();
        return ArrayD::from_elem(shape, init);
    }
    let mut out: Option<ArrayD<T>> = None;
    for &a in axes.iter().rev() {
        let src = out.as_ref().unwrap_or(x);
        let mut folded = src.fold_axis(Axis(a), init.clone(), |acc, v| f(acc.clone(), v.clone()));
        if keep_dims {
            folded.insert_axis_inplace(Axis(a));
        }
        out = Some(folded);
    }
    out.unwrap_or_else(|| x.clone())
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
        ReduceKind::Prod => (T::from_usize(1), T::mul),
    };
    let mut out = fold_axes(x, axes, keep_dims, init, f);
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
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
        let b = Tensor::Bool(array![[true, false], [true, true]].into_dyn());
        assert!(reduce(ReduceKind::Sum, &[0], false, &[op(&b)]).is_err());
        let any = reduce(ReduceKind::Max, &[1], false, &[op(&b)]).unwrap();
        assert_eq!(any, Tensor::Bool(array![true, true].into_dyn()));
        let all = reduce(ReduceKind::Min, &[1], true, &[op(&b)]).unwrap();
        assert_eq!(all, Tensor::Bool(array![[false], [true]].into_dyn()));
    }
}
