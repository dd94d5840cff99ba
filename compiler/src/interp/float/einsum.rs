//! Einsum by direct summation over every label's range.

use super::util::input;
use crate::interp::Operand;
use crate::ir::einsum::Einsum;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// Largest number of terms summed.
const MAX_TERMS: usize = 1 << 30;

/// Evaluates `equation` on f32 operands.
pub(super) fn einsum(equation: &str, inputs: &[Operand<'_>]) -> Result<Tensor> {
    let arrays = (0..inputs.len())
        .map(|i| match input(inputs, i)? {
            Tensor::F32(a) => Ok(a.as_standard_layout().into_owned()),
            t => bail!("einsum needs f32 operands, got {}", t.dtype()),
        })
        .collect::<Result<Vec<_>>>()?;
    let shapes: Vec<&[usize]> = arrays.iter().map(|a| a.shape()).collect();
    let e = Einsum::parse(equation, &shapes)?;
    let labels: Vec<u8> = e.sizes.iter().map(|&(l, _)| l).collect();
    let ranges: Vec<usize> = e.sizes.iter().map(|&(_, s)| s).collect();
    let total = ranges
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_TERMS)
        .ok_or_else(|| crate::Error::new(format!("einsum '{equation}' sums too many terms")))?;
    let position = |l: u8| labels.iter().position(|&x| x == l).expect("parsed label");
    // For each operand: per axis, the label position and the stride (0 when broadcast).
    let plans: Vec<Vec<(usize, usize)>> = arrays
        .iter()
        .zip(&e.inputs)
        .map(|(a, ls)| {
            let strides = strides(a.shape());
            ls.iter()
                .zip(a.shape())
                .zip(strides)
                .map(|((&l, &d), s)| (position(l), if d == 1 { 0 } else { s }))
                .collect()
        })
        .collect();
    let out_shape = e.output_shape();
    let out_strides = strides(&out_shape);
    let out_plan: Vec<(usize, usize)> = e
        .output
        .iter()
        .zip(out_strides)
        .map(|(&l, s)| (position(l), s))
        .collect();
    let mut out = vec![0f32; out_shape.iter().product()];
    let data: Vec<&[f32]> = arrays
        .iter()
        .map(|a| a.as_slice().expect("standard"))
        .collect();
    let mut idx = vec![0usize; ranges.len()];
    for _ in 0..total {
        let mut p = 1f32;
        for (plan, d) in plans.iter().zip(&data) {
            let off: usize = plan.iter().map(|&(l, s)| idx[l] * s).sum();
            p *= d[off];
        }
        let o: usize = out_plan.iter().map(|&(l, s)| idx[l] * s).sum();
        out[o] += p;
        for k in (0..idx.len()).rev() {
            idx[k] += 1;
            if idx[k] < ranges[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    Ok(Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("element count"),
    ))
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * shape[a + 1];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};

    #[test]
    fn matmul_trace_and_diagonal() {
        let a = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let b = f32t(&[2, 1], &[1.0, 1.0]);
        assert_eq!(
            einsum("ij,jk->ik", &[op(&a), op(&b)]).unwrap(),
            f32t(&[2, 1], &[3.0, 7.0])
        );
        assert_eq!(einsum("ii", &[op(&a)]).unwrap(), f32t(&[], &[5.0]));
        assert_eq!(einsum("ii->i", &[op(&a)]).unwrap(), f32t(&[2], &[1.0, 4.0]));
    }
}
