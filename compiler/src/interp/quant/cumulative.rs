//! Int8 CUMSUM as TFLite Micro's reference kernel: each input moves to a common scale
//! (twice the input scale, shifted left by 20 bits) before the running sum, which is
//! requantized to the output.

use super::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use super::{activation_range, from_ints, ints, per_tensor};
use crate::interp::Operand;
use crate::ir::{CumulativeKind, DType, Tensor, TensorType};
use crate::{bail, Result};

/// TFLite's `kCumSumIntegerShift`.
const LEFT_SHIFT: i32 = 20;

/// `reference_ops::CumSum` on int8. The running sum starts from the rescaled `-zero_point`
/// (TFLite Micro's accumulator initialization, kept for bit-exactness) and wraps like
/// the reference's int32 arithmetic.
pub(super) fn cumulative(
    kind: CumulativeKind,
    axis: usize,
    exclusive: bool,
    reverse: bool,
    x: &Operand<'_>,
    out: &TensorType,
) -> Result<Tensor> {
    if kind != CumulativeKind::Sum {
        bail!("quantized cumulative products have no integer kernel (TFLite has none)");
    }
    if x.ty.dtype != DType::I8 || out.dtype != DType::I8 {
        bail!(
            "quantized cumsum takes and writes int8, got {} -> {}",
            x.ty.dtype,
            out.dtype
        );
    }
    let shape = x.data.shape().to_vec();
    if axis >= shape.len() || out.shape != shape {
        bail!("cumsum axis {axis} or output {out} does not fit input {shape:?}");
    }
    let (in_scale, in_zp) = per_tensor(x.ty, "cumsum input")?;
    let (out_scale, out_zp) = per_tensor(out, "cumsum output")?;
    let twice = 2.0 * in_scale as f64;
    let (in_mult, in_shift) = quantize_multiplier(in_scale as f64 / twice);
    let (out_mult, out_shift) =
        quantize_multiplier(twice / ((1i64 << LEFT_SHIFT) as f64 * out_scale as f64));
    if in_shift > 0 || out_shift > 0 {
        bail!("cumsum output scale {out_scale} is too small for input scale {in_scale}");
    }
    let (lo, hi) = activation_range(None, out)?;
    let rescale = |v: i32| multiply_by_quantized_multiplier(v << LEFT_SHIFT, in_mult, in_shift);
    let (pre, dim) = (shape[..axis].iter().product::<usize>(), shape[axis]);
    let post: usize = shape[axis + 1..].iter().product();
    let mut res = vec![0i32; pre * dim * post];
    let s = ints(x.data)?;
    for p in 0..pre {
        for q in 0..post {
            let mut acc = rescale(-in_zp);
            for k in 0..dim {
                let k = if reverse { dim - 1 - k } else { k };
                let i = (p * dim + k) * post + q;
                let y = rescale(s[i] - in_zp);
                let before = acc;
                acc = acc.wrapping_add(y);
                let total = if exclusive { before } else { acc };
                res[i] = (multiply_by_quantized_multiplier(total, out_mult, out_shift) + out_zp)
                    .clamp(lo, hi);
            }
        }
    }
    from_ints(out.dtype, &shape, res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::QuantParams;
    use ndarray::array;

    #[test]
    fn sums_in_the_common_scale_with_the_zero_point_start() {
        let ty = |zp| {
            TensorType::new(DType::I8, vec![3]).with_quant(Some(QuantParams::per_tensor(0.5, zp)))
        };
        let x = Tensor::I8(array![2i8, 4, 6].into_dyn());
        let (xt, ot) = (ty(0), ty(0));
        let op = Operand { data: &x, ty: &xt };
        let sum = cumulative(CumulativeKind::Sum, 0, false, false, &op, &ot).unwrap();
        assert_eq!(sum, Tensor::I8(array![2i8, 6, 12].into_dyn()));
        let ex = cumulative(CumulativeKind::Sum, 0, true, true, &op, &ot).unwrap();
        assert_eq!(ex, Tensor::I8(array![10i8, 6, 0].into_dyn()));
        // A non-zero input zero point starts the sum at -zero_point, as TFLite Micro does.
        let zt = ty(2);
        let op = Operand { data: &x, ty: &zt };
        let sum = cumulative(CumulativeKind::Sum, 0, false, false, &op, &ot).unwrap();
        assert_eq!(sum, Tensor::I8(array![-2i8, 0, 4].into_dyn()));
        assert!(cumulative(CumulativeKind::Prod, 0, false, false, &op, &ot).is_err());
    }
}
