//! Inference batch normalization.

use super::util::{arity, check_axis, f32_input};
use crate::interp::Operand;
use crate::ir::Tensor;
use crate::{bail, Result};
use ndarray::Axis;

/// `scale * (x - mean) / sqrt(var + epsilon) + bias` per index of `axis`:
/// (x, scale, bias, mean, var).
pub(super) fn batch_norm(epsilon: f32, axis: usize, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 5, 5)?;
    let x = f32_input(inputs, 0, "batch_norm input")?;
    check_axis(axis, x.shape(), "batch_norm")?;
    let c = x.shape()[axis];
    let mut params = Vec::with_capacity(4);
    for (i, what) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "var")] {
        let p = f32_input(inputs, i, what)?;
        if p.len() != c {
            bail!("batch_norm {what} has {} elements, expected {c}", p.len());
        }
        params.push(p.iter().copied().collect::<Vec<f32>>());
    }
    let mut out = x.clone();
    for (ch, mut sub) in out.axis_iter_mut(Axis(axis)).enumerate() {
        let mul = params[0][ch] / (params[3][ch] + epsilon).sqrt();
        let add = params[1][ch] - params[2][ch] * mul;
        sub.mapv_inplace(|v| v * mul + add);
    }
    Ok(Tensor::F32(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, f32t, op};

    #[test]
    fn normalizes_per_channel() {
        let x = f32t(&[1, 2, 2], &[1.0, 3.0, 10.0, 20.0]);
        let scale = f32t(&[2], &[2.0, 1.0]);
        let bias = f32t(&[2], &[0.5, 0.0]);
        let mean = f32t(&[2], &[2.0, 10.0]);
        let var = f32t(&[2], &[4.0 - 1e-3, 25.0 - 1e-3]);
        let args = [op(&x), op(&scale), op(&bias), op(&mean), op(&var)];
        let Tensor::F32(o) = batch_norm(1e-3, 1, &args).unwrap() else {
            panic!()
        };
        // Channel 0: 2 * (x - 2) / 2 + 0.5; channel 1: (x - 10) / 5.
        let want = f32t(&[1, 2, 2], &[-0.5, 1.5, 0.0, 2.0]);
        assert_close(&o, want.as_f32().unwrap(), 1e-5);
        let Tensor::F32(o) = batch_norm(1e-3, 2, &args).unwrap() else {
            panic!()
        };
        assert_eq!(o.shape(), &[1, 2, 2]);
    }

    #[test]
    fn wrong_parameter_size_fails() {
        let x = f32t(&[1, 3], &[0.0; 3]);
        let p = f32t(&[2], &[1.0; 2]);
        assert!(batch_norm(1e-5, 1, &[op(&x), op(&p), op(&p), op(&p), op(&p)]).is_err());
        assert!(batch_norm(1e-5, 1, &[op(&x)]).is_err());
    }
}
