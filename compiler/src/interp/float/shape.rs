//! Reshape and transpose (any dtype).

use super::util::{any_variant, arity, input};
use crate::interp::Operand;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// Reshape to `shape` (same element count, row-major order kept).
pub(super) fn reshape(shape: &[usize], inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    match x.reshaped(shape) {
        Some(t) => Ok(t),
        None => bail!("cannot reshape {:?} to {shape:?}", x.shape()),
    }
}

/// Axis permutation: output axis `i` is input axis `perm[i]`.
pub(super) fn transpose(perm: &[usize], inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    let mut sorted = perm.to_vec();
    sorted.sort_unstable();
    if sorted != (0..x.shape().len()).collect::<Vec<_>>() {
        bail!("transpose perm {perm:?} does not fit shape {:?}", x.shape());
    }
    Ok(any_variant!(x, V(a) => { V(permute(a, perm)) }))
}

/// `a` with its axes permuted, copied row by row with precomputed source strides
/// (ndarray's dynamic-rank iterator costs several times more per element).
fn permute<T: Copy>(a: &ArrayD<T>, perm: &[usize]) -> ArrayD<T> {
    let src = a.as_standard_layout();
    let (Some(s), Some(&last)) = (src.as_slice(), perm.last()) else {
        return a
            .view()
            .permuted_axes(IxDyn(perm))
            .as_standard_layout()
            .into_owned();
    };
    let shape = a.shape();
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len() - 1).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let step: Vec<usize> = perm.iter().map(|&p| strides[p]).collect();
    let (inner, inner_step) = (shape[last], strides[last]);
    let mut out = Vec::with_capacity(s.len());
    let outer = out_shape.len() - 1;
    let mut idx = vec![0usize; outer];
    let mut base = 0usize;
    for _ in 0..s.len().checked_div(inner).unwrap_or(0) {
        out.extend((0..inner).map(|i| s[base + i * inner_step]));
        for d in (0..outer).rev() {
            idx[d] += 1;
            base += step[d];
            if idx[d] < out_shape[d] {
                break;
            }
            base -= step[d] * out_shape[d];
            idx[d] = 0;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("same element count")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn reshape_keeps_order() {
        let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(
            reshape(&[3, 2], &[op(&x)]).unwrap(),
            f32t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert!(reshape(&[4], &[op(&x)]).is_err());
    }

    #[test]
    fn transpose_any_dtype() {
        let x = Tensor::Bool(array![[true, false, false], [true, true, false]].into_dyn());
        let t = transpose(&[1, 0], &[op(&x)]).unwrap();
        assert_eq!(
            t,
            Tensor::Bool(array![[true, true], [false, true], [false, false]].into_dyn())
        );
        let y =
            Tensor::I8(ndarray::ArrayD::from_shape_vec(vec![2, 1, 3], (0..6).collect()).unwrap());
        let t = transpose(&[2, 0, 1], &[op(&y)]).unwrap();
        assert_eq!(t.to_f64_vec(), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(t.shape(), &[3, 2, 1]);
        assert!(transpose(&[0, 0], &[op(&x)]).is_err());
    }
}
