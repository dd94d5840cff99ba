//! Running sums and products along one axis (CumSum, CumProd).

use super::num::Num;
use super::util::{arity, check_axis, input, num_variant};
use crate::interp::Operand;
use crate::ir::{CumulativeKind, Tensor};
use crate::Result;
use ndarray::{ArrayD, IxDyn};

/// The running sum or product along `axis`, in index order (from the end with
/// `reverse`); `exclusive` writes the value before adding the current element.
pub(super) fn cumulative(
    kind: CumulativeKind,
    axis: usize,
    exclusive: bool,
    reverse: bool,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    check_axis(axis, x.shape(), "cumulative")?;
    Ok(num_variant!(x, "cumulative", V(a) => {
        V(run(kind, axis, exclusive, reverse, a))
    }))
}

fn run<T: Num>(
    kind: CumulativeKind,
    axis: usize,
    exclusive: bool,
    reverse: bool,
    x: &ArrayD<T>,
) -> ArrayD<T> {
    let shape = x.shape().to_vec();
    let (pre, dim) = (shape[..axis].iter().product::<usize>(), shape[axis]);
    let post: usize = shape[axis + 1..].iter().product();
    let x = x.as_standard_layout();
    let s = x.as_slice().expect("standard layout");
    let mut out = vec![T::default(); s.len()];
    let (identity, step): (T, fn(T, T) -> T) = match kind {
        CumulativeKind::Sum => (T::default(), T::add),
        CumulativeKind::Prod => (T::from_usize(1), T::mul),
    };
    for p in 0..pre {
        for q in 0..post {
            let mut acc = identity;
            for k in 0..dim {
                let k = if reverse { dim - 1 - k } else { k };
                let i = (p * dim + k) * post + q;
                if exclusive {
                    out[i] = acc;
                    acc = step(acc, s[i]);
                } else {
                    acc = step(acc, s[i]);
                    out[i] = acc;
                }
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("same shape as the input")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn sums_and_products_forward_reverse_exclusive() {
        let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let run = |kind, axis, ex, rev| cumulative(kind, axis, ex, rev, &[op(&x)]).unwrap();
        use CumulativeKind::{Prod, Sum};
        assert_eq!(
            run(Sum, 1, false, false),
            f32t(&[2, 3], &[1.0, 3.0, 6.0, 4.0, 9.0, 15.0])
        );
        assert_eq!(
            run(Sum, 1, true, true),
            f32t(&[2, 3], &[5.0, 3.0, 0.0, 11.0, 6.0, 0.0])
        );
        assert_eq!(
            run(Prod, 0, true, false),
            f32t(&[2, 3], &[1.0, 1.0, 1.0, 1.0, 2.0, 3.0])
        );
        let i = Tensor::I32(array![1i32, 2, 3].into_dyn());
        assert_eq!(
            cumulative(Prod, 0, false, true, &[op(&i)]).unwrap(),
            Tensor::I32(array![6i32, 6, 3].into_dyn())
        );
        assert!(cumulative(Sum, 2, false, false, &[op(&x)]).is_err());
    }
}
