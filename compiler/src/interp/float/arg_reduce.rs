//! ArgMax / ArgMin along one axis (numeric data; quantized data compares stored integers).

use super::util::{arity, check_axis, input, num_variant};
use crate::interp::Operand;
use crate::ir::{ArgKind, DType, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// The index of the first (or with `select_last` the last) extreme element along `axis`.
pub(super) fn arg_reduce(
    kind: ArgKind,
    axis: usize,
    keep_dims: bool,
    select_last: bool,
    index_dtype: DType,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    check_axis(axis, x.shape(), "arg_reduce")?;
    let shape = x.shape().to_vec();
    let (pre, dim) = (shape[..axis].iter().product::<usize>(), shape[axis]);
    let post: usize = shape[axis + 1..].iter().product();
    if dim == 0 {
        bail!("arg_reduce over the empty axis {axis} of shape {shape:?}");
    }
    let idx: Vec<usize> = num_variant!(x, "arg_reduce", V(a) => {
        let a = a.as_standard_layout();
        let s = a.as_slice().expect("standard layout");
        let mut idx = Vec::with_capacity(pre * post);
        for p in 0..pre {
            for q in 0..post {
                let at = |k: usize| s[(p * dim + k) * post + q];
                let mut best = 0;
                for k in 1..dim {
                    let (v, b) = (at(k), at(best));
                    let better = match kind {
                        ArgKind::Max => v > b || (select_last && v == b),
                        ArgKind::Min => v < b || (select_last && v == b),
                    };
                    if better {
                        best = k;
                    }
                }
                idx.push(best);
            }
        }
        idx
    });
    let mut out_shape = shape;
    if keep_dims {
        out_shape[axis] = 1;
    } else {
        out_shape.remove(axis);
    }
    let shape = IxDyn(&out_shape);
    Ok(match index_dtype {
        DType::I32 => Tensor::I32(
            ArrayD::from_shape_vec(shape, idx.into_iter().map(|i| i as i32).collect())
                .expect("one index per row"),
        ),
        DType::I64 => Tensor::I64(
            ArrayD::from_shape_vec(shape, idx.into_iter().map(|i| i as i64).collect())
                .expect("one index per row"),
        ),
        other => bail!("arg_reduce writes i32 or i64 indices, not {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn first_or_last_extreme_along_an_axis() {
        let x = f32t(&[2, 3], &[1.0, 5.0, 5.0, -2.0, -2.0, 0.0]);
        let max = arg_reduce(ArgKind::Max, 1, false, false, DType::I64, &[op(&x)]).unwrap();
        assert_eq!(max, Tensor::I64(array![1i64, 2].into_dyn()));
        let last = arg_reduce(ArgKind::Max, 1, true, true, DType::I32, &[op(&x)]).unwrap();
        assert_eq!(last, Tensor::I32(array![[2i32], [2]].into_dyn()));
        let min = arg_reduce(ArgKind::Min, 0, false, false, DType::I32, &[op(&x)]).unwrap();
        assert_eq!(min, Tensor::I32(array![1i32, 1, 1].into_dyn()));
        let q = Tensor::I8(array![-128i8, 127, 3].into_dyn());
        let qi = arg_reduce(ArgKind::Min, 0, false, true, DType::I32, &[op(&q)]).unwrap();
        assert_eq!(qi, Tensor::I32(ndarray::arr0(0).into_dyn()));
        assert!(arg_reduce(ArgKind::Min, 2, false, false, DType::I32, &[op(&x)]).is_err());
        assert!(arg_reduce(ArgKind::Min, 0, false, false, DType::F32, &[op(&x)]).is_err());
    }
}
