//! ScatterND: slices of `data` addressed by index tuples, replaced or combined.

use super::gather_elements::scatter;
use super::util::{arity, input};
use crate::interp::Operand;
use crate::ir::{ScatterReduction, Tensor};
use crate::{bail, Result};

/// A copy of `data` with `updates[i...]` placed at the slice `data[indices[i...]]`.
pub(super) fn scatter_nd(reduction: ScatterReduction, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 3, 3)?;
    let (data, indices, updates) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
    let (dims, ishape) = (data.shape(), indices.shape());
    let Some((&k, batch)) = ishape.split_last() else {
        bail!("indices must have rank >= 1");
    };
    if k == 0 || k > dims.len() {
        bail!("index tuples of length {k} for data of rank {}", dims.len());
    }
    let slice: usize = dims[k..].iter().product();
    let want: Vec<usize> = batch.iter().chain(&dims[k..]).copied().collect();
    if updates.shape() != want.as_slice() {
        bail!("updates are {:?}, expected {want:?}", updates.shape());
    }
    let raw = match indices {
        Tensor::I32(_) | Tensor::I64(_) => indices.to_i64_vec().expect("integers"),
        _ => bail!("indices must be int32 or int64, got {}", indices.dtype()),
    };
    let mut at = Vec::with_capacity(updates.len());
    for tuple in raw.chunks_exact(k) {
        let mut flat = 0usize;
        for (a, &i) in tuple.iter().enumerate() {
            let d = dims[a] as i64;
            let j = if i < 0 { i + d } else { i };
            if j < 0 || j >= d {
                bail!("index {i} is out of range for axis {a} of size {d}");
            }
            flat = flat * dims[a] + j as usize;
        }
        at.extend((0..slice).map(|s| flat * slice + s));
    }
    scatter(data, updates, &at, reduction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn rows_and_elements() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let rows = Tensor::I64(array![[1i64]].into_dyn());
        let u = f32t(&[1, 2], &[7.0, 8.0]);
        let out = scatter_nd(ScatterReduction::None, &[op(&x), op(&rows), op(&u)]).unwrap();
        assert_eq!(out, f32t(&[2, 2], &[1.0, 2.0, 7.0, 8.0]));
        let cells = Tensor::I64(array![[0i64, 1], [0, 1]].into_dyn());
        let u = f32t(&[2], &[5.0, 6.0]);
        let out = scatter_nd(ScatterReduction::Add, &[op(&x), op(&cells), op(&u)]).unwrap();
        assert_eq!(out, f32t(&[2, 2], &[1.0, 13.0, 3.0, 4.0]));
    }
}
