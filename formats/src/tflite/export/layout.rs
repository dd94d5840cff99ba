//! NCHW to NHWC bookkeeping: the permutations between the two layouts, axis remapping,
//! and transposed copies of constant data.

use ndarray::IxDyn;
use nnopt_compiler::ir::{QuantParams, Tensor};
use nnopt_compiler::{map_tensor_same, Error, Result};

/// Permutation taking an NCHW value to NHWC storage (`storage[i] = logical[TO_NHWC[i]]`).
pub const TO_NHWC: [usize; 4] = [0, 2, 3, 1];
/// Permutation taking NHWC storage back to the NCHW value.
pub const TO_NCHW: [usize; 4] = [0, 3, 1, 2];

/// Position in NHWC storage of logical NCHW axis `a` (axes past the fourth, of values
/// that are not stored NHWC, stay where they are).
pub fn storage_axis(a: usize) -> usize {
    TO_NCHW.get(a).copied().unwrap_or(a)
}

/// `v` permuted: `out[i] = v[perm[i]]`.
pub fn permute<T: Clone>(v: &[T], perm: &[usize]) -> Vec<T> {
    perm.iter().map(|&p| v[p].clone()).collect()
}

/// Transposed copy of constant data: `out.shape[i] = t.shape[perm[i]]`.
pub fn permute_tensor(t: &Tensor, perm: &[usize]) -> Tensor {
    map_tensor_same!(t, a => a
        .view()
        .permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned())
}

/// Quantization parameters after transposing by `perm` (the per-axis axis moves along).
pub fn permute_quant(q: &Option<QuantParams>, perm: &[usize]) -> Option<QuantParams> {
    q.as_ref().map(|q| QuantParams {
        axis: q
            .axis
            .map(|a| perm.iter().position(|&p| p == a).unwrap_or(a)),
        ..q.clone()
    })
}

/// Constant data of rank <= 4 broadcast-expanded to rank 4 (leading unit axes), with its
/// quantization; per-axis parameters are rejected (their axis would move).
pub fn expand_to_rank4(
    t: &Tensor,
    q: &Option<QuantParams>,
) -> Result<(Tensor, Option<QuantParams>)> {
    let s = t.shape();
    if s.len() > 4 {
        return Err(Error::new(format!("constant {s:?} has rank above 4")));
    }
    if q.as_ref().is_some_and(|q| q.axis.is_some()) && s.len() < 4 {
        return Err(Error::new(
            "a per-axis quantized constant cannot be broadcast to NHWC",
        ));
    }
    let mut shape = vec![1; 4 - s.len()];
    shape.extend_from_slice(s);
    let t = t.reshaped(&shape).expect("element count unchanged");
    Ok((t, q.clone()))
}
