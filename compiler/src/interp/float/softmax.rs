//! Softmax and LogSoftmax over one axis, shifted by the maximum for stability.

use super::util::{arity, check_axis, f32_input};
use crate::interp::Operand;
use crate::ir::Tensor;
use crate::Result;
use ndarray::{ArrayD, ArrayViewMut1, Axis};

/// Applies `f` to every lane of `beta * x` along `axis`.
fn per_lane(
    axis: usize,
    beta: f32,
    inputs: &[Operand<'_>],
    f: fn(ArrayViewMut1<'_, f32>),
) -> Result<ArrayD<f32>> {
    arity(inputs, 1, 1)?;
    let x = f32_input(inputs, 0, "softmax input")?;
    check_axis(axis, x.shape(), "softmax")?;
    let mut out = if beta == 1.0 {
        x.clone()
    } else {
        x.mapv(|v| beta * v)
    };
    for lane in out.lanes_mut(Axis(axis)) {
        f(lane);
    }
    Ok(out)
}

fn lane_max(lane: &ArrayViewMut1<'_, f32>) -> f32 {
    lane.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// `exp(beta * x)` normalized along `axis`.
pub(super) fn softmax(axis: usize, beta: f32, inputs: &[Operand<'_>]) -> Result<Tensor> {
    let out = per_lane(axis, beta, inputs, |mut lane| {
        let m = lane_max(&lane);
        lane.mapv_inplace(|v| (v - m).exp());
        let sum = lane.sum();
        lane.mapv_inplace(|v| v / sum);
    })?;
    Ok(Tensor::F32(out))
}

/// `log(softmax(x))` along `axis`, computed as `x - max - log(sum(exp(x - max)))`.
pub(super) fn log_softmax(axis: usize, inputs: &[Operand<'_>]) -> Result<Tensor> {
    let out = per_lane(axis, 1.0, inputs, |mut lane| {
        let m = lane_max(&lane);
        let log_sum = lane.iter().map(|&v| (v - m).exp()).sum::<f32>().ln();
        lane.mapv_inplace(|v| v - m - log_sum);
    })?;
    Ok(Tensor::F32(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, f32t, op};

    #[test]
    fn softmax_is_stable_and_normalized() {
        let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0]);
        let Tensor::F32(o) = softmax(1, 1.0, &[op(&x)]).unwrap() else {
            panic!()
        };
        let e = [1.0f32, 1f32.exp(), 2f32.exp()];
        let s: f32 = e.iter().sum();
        let want = f32t(
            &[2, 3],
            &[
                e[0] / s,
                e[1] / s,
                e[2] / s,
                1.0 / 3.0,
                1.0 / 3.0,
                1.0 / 3.0,
            ],
        );
        assert_close(&o, want.as_f32().unwrap(), 1e-6);
    }

    #[test]
    fn softmax_on_axis_0_with_beta() {
        let x = f32t(&[2, 1], &[0.0, 1.0]);
        let Tensor::F32(o) = softmax(0, 2.0, &[op(&x)]).unwrap() else {
            panic!()
        };
        let e2 = 2f32.exp();
        assert_close(
            &o,
            f32t(&[2, 1], &[1.0 / (1.0 + e2), e2 / (1.0 + e2)])
                .as_f32()
                .unwrap(),
            1e-6,
        );
        // A negative beta reverses the order: the shift must use the max of beta * x.
        let big = f32t(&[2], &[-1000.0, 0.0]);
        let Tensor::F32(o) = softmax(0, -1.0, &[op(&big)]).unwrap() else {
            panic!()
        };
        assert_close(&o, f32t(&[2], &[1.0, 0.0]).as_f32().unwrap(), 1e-6);
    }

    #[test]
    fn log_softmax_matches_log_of_softmax() {
        let x = f32t(&[3], &[0.5, -1.0, 2.0]);
        let Tensor::F32(l) = log_softmax(0, &[op(&x)]).unwrap() else {
            panic!()
        };
        let Tensor::F32(s) = softmax(0, 1.0, &[op(&x)]).unwrap() else {
            panic!()
        };
        assert_close(&l, &s.mapv(f32::ln), 1e-6);
        let big = f32t(&[2], &[1000.0, 0.0]);
        let Tensor::F32(l) = log_softmax(0, &[op(&big)]).unwrap() else {
            panic!()
        };
        assert_close(&l, f32t(&[2], &[0.0, -1000.0]).as_f32().unwrap(), 1e-6);
    }

    #[test]
    fn bad_axis_fails() {
        let x = f32t(&[3], &[0.0; 3]);
        assert!(softmax(1, 1.0, &[op(&x)]).is_err());
        assert!(log_softmax(1, &[op(&x)]).is_err());
    }
}
