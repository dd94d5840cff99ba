//! GatherND: slices of the data picked by index tuples (any data dtype, integer indices).

use super::util::{any_variant, arity, input};
use crate::interp::Operand;
use crate::ir::infer::gather_nd_shape;
use crate::ir::{DType, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// `out[b, i..., rest] = data[b, indices[b, i..., :], rest]` over the first `batch_dims`
/// shared axes `b`; negative indices count from the end, others out of range are errors.
pub(super) fn gather_nd(batch_dims: usize, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let (data, indices) = (input(inputs, 0)?, input(inputs, 1)?);
    let (dshape, ishape) = (data.shape(), indices.shape());
    let out_shape = gather_nd_shape(dshape, ishape, batch_dims)?;
    let raw = match indices.dtype() {
        DType::Bool => None,
        _ => indices.to_i64_vec(),
    };
    let Some(raw) = raw else {
        bail!(
            "gather_nd indices must be integers, got {}",
            indices.dtype()
        );
    };
    let depth = ishape[ishape.len() - 1];
    let indexed = &dshape[batch_dims..batch_dims + depth];
    let slice: usize = dshape[batch_dims + depth..].iter().product();
    let per_batch_data: usize = indexed.iter().product::<usize>() * slice;
    let batches: usize = dshape[..batch_dims].iter().product();
    let tuples_per_batch = (raw.len() / depth).checked_div(batches).unwrap_or(0);
    let mut offsets = Vec::with_capacity(raw.len() / depth);
    for (t, tuple) in raw.chunks(depth).enumerate() {
        let mut off = 0usize;
        for (k, (&i, &dim)) in tuple.iter().zip(indexed).enumerate() {
            let j = if i < 0 { i + dim as i64 } else { i };
            if j < 0 || j >= dim as i64 {
                bail!(
                    "gather_nd index {i} is out of range for axis {} of size {dim}",
                    batch_dims + k
                );
            }
            off = off * dim + j as usize;
        }
        offsets.push((t / tuples_per_batch) * per_batch_data + off * slice);
    }
    Ok(any_variant!(data, V(a) => {
        let a = a.as_standard_layout();
        let s = a.as_slice().expect("standard layout");
        let mut out = Vec::with_capacity(offsets.len() * slice);
        for &o in &offsets {
            out.extend_from_slice(&s[o..o + slice]);
        }
        V(ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("the inferred shape holds the slices"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn gathers_elements_rows_and_batched_tuples() {
        let x = f32t(&[2, 2], &[0.0, 1.0, 2.0, 3.0]);
        let pairs = Tensor::I64(array![[0i64, 0], [1, -1]].into_dyn());
        assert_eq!(
            gather_nd(0, &[op(&x), op(&pairs)]).unwrap(),
            f32t(&[2], &[0.0, 3.0])
        );
        let rows = Tensor::I32(array![[1i32], [0]].into_dyn());
        assert_eq!(
            gather_nd(0, &[op(&x), op(&rows)]).unwrap(),
            f32t(&[2, 2], &[2.0, 3.0, 0.0, 1.0])
        );
        // batch_dims = 1: row b of the data, element indices[b].
        let per_batch = Tensor::I64(array![[1i64], [0]].into_dyn());
        assert_eq!(
            gather_nd(1, &[op(&x), op(&per_batch)]).unwrap(),
            f32t(&[2], &[1.0, 2.0])
        );
        let i8s = Tensor::I8(array![[5i8, -6], [7, 8]].into_dyn());
        assert_eq!(
            gather_nd(0, &[op(&i8s), op(&rows)]).unwrap(),
            Tensor::I8(array![[7i8, 8], [5, -6]].into_dyn())
        );
    }

    #[test]
    fn out_of_range_and_bad_shapes_are_errors() {
        let x = f32t(&[2, 2], &[0.0, 1.0, 2.0, 3.0]);
        let far = Tensor::I64(array![[2i64]].into_dyn());
        assert!(gather_nd(0, &[op(&x), op(&far)]).is_err());
        let deep = Tensor::I64(array![[0i64, 0, 0]].into_dyn());
        assert!(gather_nd(0, &[op(&x), op(&deep)]).is_err());
        let floats = f32t(&[1, 1], &[0.0]);
        assert!(gather_nd(0, &[op(&x), op(&floats)]).is_err());
    }
}
