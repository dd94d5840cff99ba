//! TopK: the `k` largest (or smallest) values along an axis and their indices.

use super::util::{arity, check_axis, input, num_variant};
use crate::interp::Operand;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::{ArrayD, Axis, IxDyn};
use std::cmp::Ordering;

/// Values and int64 indices of the `k` extreme entries of each lane along `axis`, ordered
/// from the extreme (ties: lower index first; NaN counts as the largest).
pub(super) fn top_k(
    axis: usize,
    k: usize,
    largest: bool,
    inputs: &[Operand<'_>],
) -> Result<Vec<Tensor>> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    check_axis(axis, x.shape(), "top_k")?;
    if k > x.shape()[axis] {
        bail!("k = {k} exceeds axis {axis} of size {}", x.shape()[axis]);
    }
    num_variant!(x, "top_k", V(a) => {
        let (values, indices) = select(a, axis, k, largest);
        Ok(vec![V(values), Tensor::I64(indices)])
    })
}

fn select<T: Copy + PartialOrd + Default>(
    a: &ArrayD<T>,
    axis: usize,
    k: usize,
    largest: bool,
) -> (ArrayD<T>, ArrayD<i64>) {
    let mut shape = a.shape().to_vec();
    shape[axis] = k;
    let mut values = ArrayD::<T>::default(IxDyn(&shape));
    let mut indices = ArrayD::<i64>::zeros(IxDyn(&shape));
    let order = |x: &T, y: &T| {
        // NaN (unordered with itself) sorts as the largest value.
        let unordered = |v: &T| v.partial_cmp(v).is_none();
        let o = x
            .partial_cmp(y)
            .unwrap_or_else(|| match (unordered(x), unordered(y)) {
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                _ => Ordering::Equal,
            });
        if largest {
            o.reverse()
        } else {
            o
        }
    };
    for ((lane, mut vout), mut iout) in a
        .lanes(Axis(axis))
        .into_iter()
        .zip(values.lanes_mut(Axis(axis)))
        .zip(indices.lanes_mut(Axis(axis)))
    {
        let mut idx: Vec<usize> = (0..lane.len()).collect();
        idx.sort_by(|&p, &q| order(&lane[p], &lane[q]).then(p.cmp(&q)));
        for (j, &p) in idx.iter().take(k).enumerate() {
            vout[j] = lane[p];
            iout[j] = p as i64;
        }
    }
    (values, indices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn largest_and_smallest_with_ties() {
        let x = f32t(&[2, 3], &[1.0, 3.0, 3.0, 0.0, -1.0, 2.0]);
        let out = top_k(1, 2, true, &[op(&x)]).unwrap();
        assert_eq!(out[0], f32t(&[2, 2], &[3.0, 3.0, 2.0, 0.0]));
        assert_eq!(out[1], Tensor::I64(array![[1i64, 2], [2, 0]].into_dyn()));
        let out = top_k(1, 1, false, &[op(&x)]).unwrap();
        assert_eq!(out[1], Tensor::I64(array![[0i64], [1]].into_dyn()));
        assert!(top_k(1, 4, true, &[op(&x)]).is_err());
    }
}
