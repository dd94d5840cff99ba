//! Gather along one axis (any data dtype, integer indices).

use super::util::{any_variant, arity, check_axis, input, standard};
use crate::interp::Operand;
use crate::ir::{DType, Tensor};
use crate::{bail, Result};
use ndarray::{Axis, IxDyn};

/// `out[pre, idx..., post] = data[pre, indices[idx...], post]`; negative indices count
/// from the end, indices out of range are an error.
pub(super) fn gather(axis: usize, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let (data, indices) = (input(inputs, 0)?, input(inputs, 1)?);
    check_axis(axis, data.shape(), "gather")?;
    let dim = data.shape()[axis];
    let raw = match indices.dtype() {
        DType::Bool => None,
        _ => indices.to_i64_vec(),
    };
    let Some(raw) = raw else {
        bail!("gather indices must be integers, got {}", indices.dtype());
    };
    let mut idx = Vec::with_capacity(raw.len());
    for i in raw {
        let j = if i < 0 { i + dim as i64 } else { i };
        if j < 0 || j >= dim as i64 {
            bail!("gather index {i} is out of range for axis {axis} of size {dim}");
        }
        idx.push(j as usize);
    }
    let shape = data.shape();
    let out_shape: Vec<usize> = shape[..axis]
        .iter()
        .chain(indices.shape())
        .chain(&shape[axis + 1..])
        .copied()
        .collect();
    Ok(any_variant!(data, V(a) => {
        let picked = standard(a.select(Axis(axis), &idx));
        V(picked.into_shape_with_order(IxDyn(&out_shape)).expect("select keeps the element count"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn gathers_rows_and_columns_with_negative_indices() {
        let x = f32t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let rows = Tensor::I64(array![[0i64, -1], [1, 1]].into_dyn());
        let out = gather(0, &[op(&x), op(&rows)]).unwrap();
        assert_eq!(
            out,
            f32t(&[2, 2, 2], &[1.0, 2.0, 5.0, 6.0, 3.0, 4.0, 3.0, 4.0])
        );
        let cols = Tensor::I64(array![[1i64, 0]].into_dyn());
        let out = gather(1, &[op(&x), op(&cols)]).unwrap();
        assert_eq!(out, f32t(&[3, 1, 2], &[2.0, 1.0, 4.0, 3.0, 6.0, 5.0]));
        let col = Tensor::I32(ndarray::arr0(-2).into_dyn());
        let out = gather(1, &[op(&x), op(&col)]).unwrap();
        assert_eq!(out, f32t(&[3], &[1.0, 3.0, 5.0]));
    }

    #[test]
    fn integer_data_and_errors() {
        let x = Tensor::I64(array![10i64, 20, 30].into_dyn());
        let i = Tensor::I64(array![2i64, 0].into_dyn());
        assert_eq!(
            gather(0, &[op(&x), op(&i)]).unwrap(),
            Tensor::I64(array![30i64, 10].into_dyn())
        );
        let bad = Tensor::I64(array![3i64].into_dyn());
        assert!(gather(0, &[op(&x), op(&bad)]).is_err());
        let neg = Tensor::I64(array![-4i64].into_dyn());
        assert!(gather(0, &[op(&x), op(&neg)]).is_err());
        let f = f32t(&[1], &[0.0]);
        assert!(gather(0, &[op(&x), op(&f)]).is_err());
        assert!(gather(1, &[op(&x), op(&i)]).is_err());
    }
}
