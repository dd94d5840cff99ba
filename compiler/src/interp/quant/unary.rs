//! Quantized elementwise functions of one operand ([`UnaryFunc`]) on 8-bit codes: TFLite
//! Micro's fixed-point RSQRT (`elementwise.cc`), and for the other real functions the
//! 256-entry table TFLite builds at prepare time from the float function (`LUTPopulate`,
//! as LiteRT's GELU and EXP kernels do), with GELU's two transforms as LiteRT writes them.

use super::elementwise::lut8;
use super::fixedpoint::{
    multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot,
    saturating_rounding_mul_by_pot, srdhm,
};
use super::{from_ints, ints, per_tensor, qrange};
use crate::interp::float::unary_value;
use crate::interp::Operand;
use crate::ir::{DType, Tensor, TensorType, UnaryFunc};
use crate::{bail, Result};

/// Whether `func` has a kernel on 8-bit quantized codes (every real-valued function; not
/// the logical and classifying ones).
pub fn has_kernel(func: UnaryFunc) -> bool {
    !matches!(
        func,
        UnaryFunc::Not | UnaryFunc::IsNan | UnaryFunc::IsInf { .. }
    )
}

/// `func` on int8/uint8 codes.
pub fn unary(func: UnaryFunc, x: &Operand<'_>, out: &TensorType) -> Result<Tensor> {
    if !has_kernel(func) {
        bail!("{func:?} has no quantized kernel");
    }
    if !matches!(out.dtype, DType::I8 | DType::U8) || x.ty.dtype != out.dtype {
        bail!(
            "quantized {func:?} maps int8 or uint8 codes to the same type, got {} to {}",
            x.ty.dtype,
            out.dtype
        );
    }
    let (si, zi) = per_tensor(x.ty, "input")?;
    let (so, zo) = per_tensor(out, "output")?;
    let (qmin, qmax) = qrange(out.dtype)?;
    let xv = ints(x.data)?;
    let res = if func == UnaryFunc::Rsqrt {
        let (m, shift) = quantize_multiplier(1.0 / ((si as f64).sqrt() * so as f64));
        xv.iter()
            .map(|&v| rsqrt_code(v - zi, m, shift, zo, qmin, qmax))
            .collect::<Result<Vec<i32>>>()?
    } else {
        let f: Box<dyn Fn(f32) -> f32> = match func {
            UnaryFunc::Gelu { tanh: false } => Box::new(gelu_transform),
            UnaryFunc::Gelu { tanh: true } => Box::new(gelu_transform_approximate),
            f => Box::new(move |v| unary_value(f, v)),
        };
        let lut = lut8(si, zi, so, zo, qmin, qmax, f);
        xv.iter().map(|&v| lut[(v - qmin) as usize]).collect()
    };
    from_ints(out.dtype, &out.shape, res)
}

/// LiteRT's `GeluTransform`: `0.5 x erfc(-x / sqrt 2)` in f32 (the erfc form avoids the
/// cancellation of `1 + erf` for large negative inputs).
fn gelu_transform(x: f32) -> f32 {
    0.5 * x * libm::erfcf(x * -std::f32::consts::FRAC_1_SQRT_2)
}

/// LiteRT's `GeluTransformApproximate`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))`
/// in f32.
fn gelu_transform_approximate(x: f32) -> f32 {
    let k = (std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;
    0.5 * x * (1.0 + libm::tanhf(k * (x + 0.044715 * x * x * x)))
}

/// TFLite Micro's `RsqrtEvalQuantized` for one code offset `value = q - zero_point`: an
/// error below zero (TFLite Micro rejects the input), the largest code at zero.
fn rsqrt_code(value: i32, m: i32, shift: i32, zo: i32, qmin: i32, qmax: i32) -> Result<i32> {
    const SHIFT: i32 = 20;
    if value < 0 {
        bail!("rsqrt is only defined for non-negative values (a code below the zero point)");
    }
    if value == 0 {
        return Ok(qmax);
    }
    let (inv_m, inv_shift) = inv_sqrt_multiplier(value);
    let data = multiply_by_quantized_multiplier(1, inv_m, inv_shift + SHIFT);
    let y = multiply_by_quantized_multiplier(data, m, shift - SHIFT) + zo;
    Ok(y.clamp(qmin, qmax))
}

/// TFLite's `GetInvSqrtQuantizedMultiplierExp(input, kReverseShift = -1)`: `1 / sqrt(input)`
/// as a Q31 multiplier and a left shift, by five Newton-Raphson steps in gemmlowp's
/// fixed point with 3 integer bits.
fn inv_sqrt_multiplier(mut input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut shift = 11;
    while input >= 1 << 29 {
        input /= 4;
        shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Raw values of FixedPoint<i32, 3>; products of two have 6 integer bits, of three 9.
    const ONE_F3: i32 = 1 << 28;
    let half_input = rounding_divide_by_pot(input >> 1, 1);
    let half_three = (1 << 28) + (1 << 27);
    let mut x = ONE_F3;
    for _ in 0..5 {
        let x3 = saturating_rounding_mul_by_pot(srdhm(srdhm(x, x), x), 6);
        x = saturating_rounding_mul_by_pot(
            srdhm(half_three, x).wrapping_sub(srdhm(half_input, x3)),
            3,
        );
    }
    const HALF_SQRT_2: i32 = 1518500250;
    let mut inv = srdhm(x, HALF_SQRT_2);
    if shift < 0 {
        inv <<= -shift;
        shift = 0;
    }
    (inv, -shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::QuantParams;
    use ndarray::{ArrayD, IxDyn};

    fn q(scale: f32, zp: i64, n: usize) -> TensorType {
        TensorType::new(DType::I8, vec![n]).with_quant(Some(QuantParams::per_tensor(scale, zp)))
    }

    fn run(func: UnaryFunc, codes: &[i8], x: &TensorType, out: &TensorType) -> Result<Vec<i8>> {
        let data =
            Tensor::I8(ArrayD::from_shape_vec(IxDyn(&[codes.len()]), codes.to_vec()).unwrap());
        let t = unary(func, &Operand { data: &data, ty: x }, out)?;
        match t {
            Tensor::I8(a) => Ok(a.iter().copied().collect()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inv_sqrt_multiplier_approximates_the_real_value() {
        for v in [2, 3, 17, 255, 1 << 20, (1 << 29) + 5] {
            let (m, s) = inv_sqrt_multiplier(v);
            let got = m as f64 * 2f64.powi(s - 31);
            let want = 1.0 / (v as f64).sqrt();
            assert!((got / want - 1.0).abs() < 1e-5, "{v}: {got} vs {want}");
        }
    }

    #[test]
    fn rsqrt_follows_the_real_function_and_rejects_negatives() {
        let (x, out) = (q(0.01, -128, 4), q(0.05, -128, 4));
        let got = run(UnaryFunc::Rsqrt, &[-128, -127, -28, 127], &x, &out).unwrap();
        // 0 gives the largest code; 1/sqrt(0.01) = 10 -> 200 steps up from -128;
        // 1/sqrt(1) = 1 -> code -108; 1/sqrt(2.55) = 0.626 -> code -115.
        assert_eq!(got, [127, 72, -108, -115]);
        assert!(run(UnaryFunc::Rsqrt, &[-3], &q(0.01, 0, 1), &q(0.05, 0, 1)).is_err());
    }

    #[test]
    fn gelu_table_follows_the_real_function() {
        let t = q(0.05, 0, 3);
        let got = run(UnaryFunc::Gelu { tanh: false }, &[-60, 0, 40], &t, &t).unwrap();
        // gelu(-3) = -0.004 -> 0; gelu(2) = 1.9545 -> 39.
        assert_eq!(got, [0, 0, 39]);
    }
}
