//! GatherElements and ScatterElements: element-wise indexing along one axis.

use super::util::{any_variant, arity, check_axis, input};
use crate::interp::Operand;
use crate::ir::{ScatterReduction, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// Flat offsets into `data` (shape `dims`) addressed by `indices` (shape `ishape`, same
/// rank) along `axis`: the index's own coordinates with the axis coordinate replaced.
fn offsets(dims: &[usize], ishape: &[usize], raw: &[i64], axis: usize) -> Result<Vec<usize>> {
    if dims.len() != ishape.len() {
        bail!(
            "indices of rank {} for data of rank {}",
            ishape.len(),
            dims.len()
        );
    }
    if dims
        .iter()
        .zip(ishape)
        .enumerate()
        .any(|(a, (&d, &i))| a != axis && i > d)
    {
        bail!("indices {ishape:?} exceed data {dims:?} off axis {axis}");
    }
    let mut strides = vec![1usize; dims.len()];
    for a in (0..dims.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * dims[a + 1];
    }
    let dim = dims[axis] as i64;
    let mut coord = vec![0usize; ishape.len()];
    let mut out = Vec::with_capacity(raw.len());
    for &i in raw {
        let j = if i < 0 { i + dim } else { i };
        if j < 0 || j >= dim {
            bail!("index {i} is out of range for axis {axis} of size {dim}");
        }
        let flat: usize = coord
            .iter()
            .enumerate()
            .map(|(a, &c)| if a == axis { j as usize } else { c } * strides[a])
            .sum();
        out.push(flat);
        for a in (0..coord.len()).rev() {
            coord[a] += 1;
            if coord[a] < ishape[a] {
                break;
            }
            coord[a] = 0;
        }
    }
    Ok(out)
}

fn index_values(t: &Tensor) -> Result<Vec<i64>> {
    match t {
        Tensor::I32(_) | Tensor::I64(_) => Ok(t.to_i64_vec().expect("integers")),
        _ => bail!("indices must be int32 or int64, got {}", t.dtype()),
    }
}

/// `out[i] = data[i with the axis coordinate replaced by indices[i]]`.
pub(super) fn gather_elements(axis: usize, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let (data, indices) = (input(inputs, 0)?, input(inputs, 1)?);
    check_axis(axis, data.shape(), "gather_elements")?;
    let at = offsets(data.shape(), indices.shape(), &index_values(indices)?, axis)?;
    let shape = IxDyn(indices.shape());
    Ok(any_variant!(data, V(a) => {
        let a = a.as_standard_layout();
        let src = a.as_slice().expect("standard layout");
        V(ArrayD::from_shape_vec(shape, at.iter().map(|&k| src[k]).collect()).expect("count"))
    }))
}

/// A copy of `data` with `updates[i]` written (or combined by `reduction`) at the
/// positions GatherElements would read; later updates win.
pub(super) fn scatter_elements(
    axis: usize,
    reduction: ScatterReduction,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 3, 3)?;
    let (data, indices, updates) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?);
    check_axis(axis, data.shape(), "scatter_elements")?;
    if indices.shape() != updates.shape() {
        bail!(
            "indices {:?} and updates {:?} differ",
            indices.shape(),
            updates.shape()
        );
    }
    let at = offsets(data.shape(), indices.shape(), &index_values(indices)?, axis)?;
    scatter(data, updates, &at, reduction)
}

/// Writes `updates` (in order) at flat offsets `at` of a copy of `data`.
pub(super) fn scatter(
    data: &Tensor,
    updates: &Tensor,
    at: &[usize],
    reduction: ScatterReduction,
) -> Result<Tensor> {
    match (data, updates) {
        (Tensor::F32(d), Tensor::F32(u)) => Ok(Tensor::F32(scatter_typed(
            d,
            u,
            at,
            reduction,
            |r, a, b| match r {
                ScatterReduction::None => b,
                ScatterReduction::Add => a + b,
                ScatterReduction::Mul => a * b,
                ScatterReduction::Max => a.max(b),
                ScatterReduction::Min => a.min(b),
            },
        ))),
        _ if reduction == ScatterReduction::None => Ok(any_variant!(data, V(d) => {
            let V(u) = updates else {
                bail!("updates are {}, data {}", updates.dtype(), data.dtype());
            };
            V(scatter_typed(d, u, at, reduction, |_, _, b| b))
        })),
        _ => {
            let (Some(d), Some(u)) = (data.to_i64_vec(), updates.to_i64_vec()) else {
                bail!("scatter {reduction:?} on {} data", data.dtype());
            };
            let mut out = d;
            for (&k, &v) in at.iter().zip(&u) {
                out[k] = match reduction {
                    ScatterReduction::Add => out[k].wrapping_add(v),
                    ScatterReduction::Mul => out[k].wrapping_mul(v),
                    ScatterReduction::Max => out[k].max(v),
                    _ => out[k].min(v),
                };
            }
            let f: Vec<f64> = out.iter().map(|&v| v as f64).collect();
            Tensor::from_f64s(data.dtype(), data.shape(), &f)
                .ok_or_else(|| crate::Error::new(format!("scatter on {} data", data.dtype())))
        }
    }
}

fn scatter_typed<T: Copy>(
    data: &ArrayD<T>,
    updates: &ArrayD<T>,
    at: &[usize],
    reduction: ScatterReduction,
    f: impl Fn(ScatterReduction, T, T) -> T,
) -> ArrayD<T> {
    let mut out = data.as_standard_layout().into_owned();
    let dst = out.as_slice_mut().expect("standard layout");
    for (&k, &v) in at.iter().zip(updates.iter()) {
        dst[k] = f(reduction, dst[k], v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn gather_and_scatter_along_an_axis() {
        let x = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let i = Tensor::I64(array![[0i64, 0], [1, -2]].into_dyn());
        let g = gather_elements(1, &[op(&x), op(&i)]).unwrap();
        assert_eq!(g, f32t(&[2, 2], &[1.0, 1.0, 4.0, 3.0]));
        let u = f32t(&[2, 2], &[10.0, 20.0, 30.0, 40.0]);
        let s = scatter_elements(1, ScatterReduction::Add, &[op(&x), op(&i), op(&u)]).unwrap();
        assert_eq!(s, f32t(&[2, 2], &[31.0, 2.0, 43.0, 34.0]));
        let bad = Tensor::I64(array![[2i64]].into_dyn());
        assert!(gather_elements(1, &[op(&x), op(&bad)]).is_err());
    }
}
