//! Type conversions: Quantize, Dequantize (affine, per-tensor or per-axis) and Cast.

use super::util::{arity, input};
use crate::fp8::{Fp8Format as Format, Saturation};
use crate::interp::Operand;
use crate::ir::{narrow_float, DType, E8m0Rounding, QuantParams, Tensor, TensorType};
use crate::{bail, Result};
use ndarray::{ArrayD, Axis, IxDyn, Zip};
use rayon::prelude::*;

/// Maps every element with the parameters `(scale, zero_point)` of its index along the
/// quantized axis.
fn per_axis<T, U: Clone + Default>(
    x: &ArrayD<T>,
    q: &QuantParams,
    f: impl Fn(&T, (f32, i64)) -> U,
) -> Result<ArrayD<U>> {
    let Some(axis) = q.axis else {
        if q.scale.len() != 1 || q.zero_point.is_empty() {
            bail!("per-tensor quantization needs one scale and zero point, got {q:?}");
        }
        let p = q.at(0);
        return Ok(x.map(|v| f(v, p)));
    };
    let Some(&n) = x.shape().get(axis) else {
        bail!(
            "quantization axis {axis} is out of range for shape {:?}",
            x.shape()
        );
    };
    if (q.scale.len() != n && q.scale.len() != 1) || q.zero_point.is_empty() {
        bail!(
            "{} scales / {} zero points for axis {axis} of size {n}",
            q.scale.len(),
            q.zero_point.len()
        );
    }
    let mut out = ArrayD::<U>::default(x.raw_dim());
    for (i, (mut o, xs)) in out
        .axis_iter_mut(Axis(axis))
        .zip(x.axis_iter(Axis(axis)))
        .enumerate()
    {
        let p = q.at(i);
        Zip::from(&mut o).and(&xs).for_each(|o, v| *o = f(v, p));
    }
    Ok(out)
}

fn params<'a>(t: &'a TensorType, what: &str) -> Result<&'a QuantParams> {
    match &t.quant {
        Some(q) => Ok(q),
        None => bail!("{what} {t} has no quantization parameters"),
    }
}

/// Real values of a quantized integer tensor: `(q - zero_point) * scale`.
fn dequantized(x: &Tensor, ty: &TensorType) -> Result<ArrayD<f32>> {
    let q = params(ty, "dequantize input")?;
    if is_code_type(x.dtype()) {
        return per_axis(&to_f32(x), q, |&v, (s, _)| v * s);
    }
    if !x.dtype().is_qdq_int() {
        bail!("cannot dequantize {} data", x.dtype());
    }
    let ints = ArrayD::from_shape_vec(IxDyn(x.shape()), x.to_i64_vec().unwrap_or_default())
        .expect("same element count");
    per_axis(&ints, q, |&v, (s, zp)| (v - zp) as f32 * s)
}

/// Quantize to `to` with the output type's parameters: `saturate(round_half_even(x /
/// scale) + zero_point)` (ONNX QuantizeLinear); FP8 and FP4 targets take `x / scale` rounded to
/// the nearest code, overflowing as `sat` says. Integer inputs with parameters are
/// requantized through their real values.
pub(super) fn quantize(
    to: DType,
    sat: Saturation,
    inputs: &[Operand<'_>],
    out_ty: &TensorType,
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    let real = match x {
        Tensor::F32(a) => a.clone(),
        _ => dequantized(x, inputs[0].ty)?,
    };
    let q = params(out_ty, "quantize output")?;
    if is_code_type(to) {
        // FP4 adds its (zero) zero point like ONNX's reference, which turns -0 into +0.
        let zero = if to == DType::F4E2M1 { 0.0 } else { -0.0 };
        let scaled = per_axis(&real, q, |&v, (s, _)| v / s + zero)?;
        return encode(to, sat, E8m0Rounding::Up, &scaled);
    }
    let Some((lo, hi)) = to.int_range().filter(|_| to.is_qdq_int()) else {
        bail!("cannot quantize to {to}");
    };
    let ints = per_axis(&real, q, |&v, (s, zp)| {
        ((v / s).round_ties_even() as i64)
            .saturating_add(zp)
            .clamp(lo, hi)
    })?;
    from_ints(to, ints.shape(), ints.iter().copied().collect())
}

/// Dequantize an integer or FP8 tensor with its type's parameters; f32 data (float16
/// constants already widened by the importer) passes through.
pub(super) fn dequantize(inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    match input(inputs, 0)? {
        Tensor::F32(a) => Ok(Tensor::F32(a.clone())),
        x => Ok(Tensor::F32(dequantized(x, inputs[0].ty)?)),
    }
}

/// Element type conversion with ONNX Cast semantics: floats convert with rounding to
/// nearest even, float to integer truncates toward zero (through i64, then wraps like
/// numpy), integers wrap, anything to bool is `!= 0`, FP8 rounds to nearest even and
/// overflows as `sat` says.
pub(super) fn cast(
    to: DType,
    sat: Saturation,
    rounding: E8m0Rounding,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    if x.dtype() == to {
        return Ok(x.clone());
    }
    if is_code_type(to) {
        return encode(to, sat, rounding, &to_f32(x));
    }
    let shape = x.shape();
    let values = if is_code_type(x.dtype()) {
        to_f32(x).iter().map(|&v| v as f64).collect()
    } else {
        x.to_f64_vec()
    };
    if to.is_float() {
        return Tensor::from_f64s(to, shape, &values)
            .ok_or_else(|| crate::Error::new(format!("cannot cast to {to}")));
    }
    if to == DType::Bool {
        return from_ints(
            to,
            shape,
            values.iter().map(|&v| i64::from(v != 0.0)).collect(),
        );
    }
    let ints = match x.to_i64_vec() {
        Some(ints) => ints,
        None => values.iter().map(|&v| v as i64).collect(),
    };
    from_ints(to, shape, ints)
}

/// [`crate::ir::Op::BitCast`]: the input's bytes read as `to` (of the same element size).
pub(super) fn bit_cast(to: DType, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    Tensor::from_le_bytes(to, x.shape(), &x.to_le_bytes())
        .ok_or_else(|| crate::Error::new(format!("cannot reinterpret {} data as {to}", x.dtype())))
}

/// Whether values of `dtype` are float codes (FP8, FP4, E8M0) that need decoding.
fn is_code_type(dtype: DType) -> bool {
    Format::of(dtype).is_some() || dtype.is_storage_float()
}

/// Values as f32 (float codes decoded, integers converted, bools as 0 and 1).
fn to_f32(x: &Tensor) -> ArrayD<f32> {
    match x {
        Tensor::F32(a) => a.clone(),
        Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => {
            let f = Format::of(x.dtype()).expect("FP8 variant");
            a.mapv(|b| f.decode(b))
        }
        Tensor::F4E2M1(a) | Tensor::F8E4M3Fnuz(a) | Tensor::F8E5M2Fnuz(a) | Tensor::F8E8M0(a) => {
            let dtype = x.dtype();
            a.mapv(|b| narrow_float::decode(dtype, b).expect("storage float variant"))
        }
        _ => {
            let v = x.to_f64_vec().iter().map(|&v| v as f32).collect();
            ArrayD::from_shape_vec(IxDyn(x.shape()), v).expect("same element count")
        }
    }
}

/// Codes of a float code type `to` for `a`: nearest, ties to even (E8M0 as `rounding`
/// says), overflowing as `sat` says.
fn encode(to: DType, sat: Saturation, rounding: E8m0Rounding, a: &ArrayD<f32>) -> Result<Tensor> {
    let codes = match Format::of(to) {
        Some(f) => a.mapv(|v| f.encode(v, sat)),
        None => {
            let saturate = sat == Saturation::Saturate;
            a.mapv(|v| narrow_float::encode(to, v, saturate, rounding).unwrap_or(0))
        }
    };
    Tensor::from_codes(to, codes).ok_or_else(|| crate::Error::new(format!("{to} has no codes")))
}

/// Integers (or bools) of type `to` from i64 values, wrapping.
fn from_ints(to: DType, shape: &[usize], v: Vec<i64>) -> Result<Tensor> {
    let s = IxDyn(shape);
    fn build<T>(s: IxDyn, v: Vec<i64>, f: impl Fn(i64) -> T) -> ArrayD<T> {
        ArrayD::from_shape_vec(s, v.into_iter().map(f).collect()).expect("same element count")
    }
    Ok(match to {
        DType::I8 => Tensor::I8(build(s, v, |x| x as i8)),
        DType::U8 => Tensor::U8(build(s, v, |x| x as u8)),
        DType::I16 => Tensor::I16(build(s, v, |x| x as i16)),
        DType::I32 => Tensor::I32(build(s, v, |x| x as i32)),
        DType::I64 => Tensor::I64(build(s, v, |x| x)),
        DType::U16 => Tensor::U16(build(s, v, |x| x as u16)),
        DType::U32 => Tensor::U32(build(s, v, |x| x as u32)),
        DType::U64 => Tensor::U64(build(s, v, |x| x as u64)),
        DType::Bool => Tensor::Bool(build(s, v, |x| x != 0)),
        DType::I4 => Tensor::I4(build(s, v, |x| to.wrap_int(x) as i8)),
        DType::U4 => Tensor::U4(build(s, v, |x| to.wrap_int(x) as u8)),
        DType::I2 => Tensor::I2(build(s, v, |x| to.wrap_int(x) as i8)),
        DType::U2 => Tensor::U2(build(s, v, |x| to.wrap_int(x) as u8)),
        _ => bail!("{to} is not an integer type"),
    })
}

/// Values a task of [`fp8_fake_quant`] handles.
const FAKE_QUANT_TASK: usize = 1 << 14;

/// [`crate::ir::Op::Fp8FakeQuant`]: `(x, scale) -> (y, amax)`.
pub(super) fn fp8_fake_quant(f: Format, inputs: &[Operand]) -> Result<Vec<Tensor>> {
    arity(inputs, 2, 2)?;
    let x = super::util::f32_input(inputs, 0, "fake-quantized value")?;
    let scale = super::util::f32_input(inputs, 1, "scale")?;
    let Some(&scale) = scale.iter().next() else {
        bail!("the scale is empty");
    };
    let x = x.as_standard_layout();
    let src = x.as_slice().expect("standard layout");
    // f32::max ignores NaN and is order-free, so the parallel maximum is exact.
    let amax = src
        .par_chunks(FAKE_QUANT_TASK)
        .map(|c| c.iter().fold(0f32, |m, &v| m.max(v.abs())))
        .reduce(|| 0.0, f32::max);
    let mut y = src.to_vec();
    if scale.is_finite() && scale > 0.0 {
        let round = f.saturating_rounder();
        y.par_chunks_mut(FAKE_QUANT_TASK).for_each(|c| {
            for v in c {
                *v = round(*v / scale) * scale;
            }
        });
    }
    let y = ArrayD::from_shape_vec(x.raw_dim(), y).expect("one value per input");
    let amax = ArrayD::from_elem(IxDyn(&[]), amax);
    Ok(vec![Tensor::F32(y), Tensor::F32(amax)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    fn quant_ty(dtype: DType, shape: &[usize], q: QuantParams) -> TensorType {
        TensorType::new(dtype, shape.to_vec()).with_quant(Some(q))
    }

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        let x = f32t(&[6], &[0.5, 1.5, 2.5, -0.5, 1000.0, -1000.0]);
        let ty = quant_ty(DType::I8, &[6], QuantParams::per_tensor(1.0, 0));
        let out = quantize(DType::I8, Saturation::Saturate, &[op(&x)], &ty).unwrap();
        assert_eq!(out, Tensor::I8(array![0i8, 2, 2, 0, 127, -128].into_dyn()));
        let ty = quant_ty(DType::U8, &[6], QuantParams::per_tensor(0.5, 10));
        let out = quantize(DType::U8, Saturation::Saturate, &[op(&x)], &ty).unwrap();
        assert_eq!(out, Tensor::U8(array![11u8, 13, 15, 9, 255, 0].into_dyn()));
    }

    #[test]
    fn per_axis_round_trip() {
        let x = f32t(&[2, 2], &[1.0, -2.0, 3.0, 4.0]);
        let q = QuantParams {
            scale: vec![0.5, 0.25],
            zero_point: vec![0, 1],
            axis: Some(1),
        };
        let ty = quant_ty(DType::I16, &[2, 2], q);
        let out = quantize(DType::I16, Saturation::Saturate, &[op(&x)], &ty).unwrap();
        assert_eq!(out, Tensor::I16(array![[2i16, -7], [6, 17]].into_dyn()));
        let back = dequantize(&[Operand {
            data: &out,
            ty: &ty,
        }])
        .unwrap();
        assert_eq!(back, x);
        let bad = quant_ty(
            DType::I16,
            &[2, 2],
            QuantParams {
                scale: vec![1.0; 3],
                zero_point: vec![0; 3],
                axis: Some(1),
            },
        );
        assert!(quantize(DType::I16, Saturation::Saturate, &[op(&x)], &bad).is_err());
    }

    #[test]
    fn requantize_and_dequantize_errors() {
        let x = Tensor::I8(array![-10i8, 20].into_dyn());
        let in_ty = quant_ty(DType::I8, &[2], QuantParams::per_tensor(0.1, 0));
        let out_ty = quant_ty(DType::U8, &[2], QuantParams::per_tensor(0.2, 128));
        let out = quantize(
            DType::U8,
            Saturation::Saturate,
            &[Operand {
                data: &x,
                ty: &in_ty,
            }],
            &out_ty,
        )
        .unwrap();
        assert_eq!(out, Tensor::U8(array![123u8, 138].into_dyn()));
        assert!(dequantize(&[op(&x)]).is_err());
        let f = f32t(&[1], &[1.5]);
        assert_eq!(dequantize(&[op(&f)]).unwrap(), f);
        assert!(quantize(
            DType::I8,
            Saturation::Saturate,
            &[op(&f)],
            &TensorType::new(DType::I8, vec![1])
        )
        .is_err());
        assert!(quantize(
            DType::Bool,
            Saturation::Saturate,
            &[op(&f)],
            &quant_ty(DType::Bool, &[1], QuantParams::per_tensor(1.0, 0))
        )
        .is_err());
    }

    fn cast_sat(to: DType, sat: Saturation, inputs: &[Operand<'_>]) -> Result<Tensor> {
        cast(to, sat, E8m0Rounding::Up, inputs)
    }

    #[test]
    fn narrow_types_wrap_and_round() {
        let f = f32t(&[6], &[-9.7, -8.5, 2.5, 7.6, 15.5, 1e6]);
        // Integers truncate, then wrap into 4 or 2 bits (ml_dtypes' astype).
        assert_eq!(
            cast_sat(DType::I4, Saturation::Saturate, &[op(&f)]).unwrap(),
            Tensor::I4(array![7i8, -8, 2, 7, -1, 0].into_dyn())
        );
        assert_eq!(
            cast_sat(DType::U2, Saturation::Saturate, &[op(&f)]).unwrap(),
            Tensor::U2(array![3u8, 0, 2, 3, 3, 0].into_dyn())
        );
        let fp4 = cast_sat(DType::F4E2M1, Saturation::NonSaturating, &[op(&f)]).unwrap();
        assert_eq!(
            cast_sat(DType::F32, Saturation::Saturate, &[op(&fp4)]).unwrap(),
            f32t(&[6], &[-6.0, -6.0, 2.0, 6.0, 6.0, 6.0])
        );
        let fnuz = cast_sat(DType::F8E5M2Fnuz, Saturation::NonSaturating, &[op(&f)]).unwrap();
        assert_eq!(fnuz.to_f64_vec()[5], 128.0, "overflow is the NaN code 0x80");
        // QuantizeLinear to int4: round half to even, add the zero point, saturate.
        let ty = quant_ty(DType::I4, &[6], QuantParams::per_tensor(2.0, 1));
        let q = quantize(DType::I4, Saturation::Saturate, &[op(&f)], &ty).unwrap();
        assert_eq!(q, Tensor::I4(array![-4i8, -3, 2, 5, 7, 7].into_dyn()));
    }

    #[test]
    fn bit_cast_reinterprets_bytes() {
        let f = f32t(&[2], &[1.0, -2.0]);
        assert_eq!(
            bit_cast(DType::I32, &[op(&f)]).unwrap(),
            Tensor::I32(array![0x3f80_0000, 0xc000_0000u32 as i32].into_dyn())
        );
        let b = Tensor::I8(array![-1i8, 2].into_dyn());
        assert_eq!(
            bit_cast(DType::U8, &[op(&b)]).unwrap(),
            Tensor::U8(array![255u8, 2].into_dyn())
        );
        assert!(bit_cast(DType::I64, &[op(&f)]).is_err());
    }

    #[test]
    fn cast_pairs() {
        let f = f32t(&[5], &[-2.7, -0.5, 0.0, 2.9, 300.0]);
        assert_eq!(
            cast_sat(DType::I32, Saturation::Saturate, &[op(&f)]).unwrap(),
            Tensor::I32(array![-2, 0, 0, 2, 300].into_dyn())
        );
        assert_eq!(
            cast_sat(DType::U8, Saturation::Saturate, &[op(&f)]).unwrap(),
            Tensor::U8(array![254u8, 0, 0, 2, 44].into_dyn())
        );
        assert_eq!(
            cast_sat(DType::Bool, Saturation::Saturate, &[op(&f)]).unwrap(),
            Tensor::Bool(array![true, true, false, true, true].into_dyn())
        );
        let i = Tensor::I64(array![-1i64, 256, 3].into_dyn());
        assert_eq!(
            cast_sat(DType::U8, Saturation::Saturate, &[op(&i)]).unwrap(),
            Tensor::U8(array![255u8, 0, 3].into_dyn())
        );
        assert_eq!(
            cast_sat(DType::F32, Saturation::Saturate, &[op(&i)]).unwrap(),
            f32t(&[3], &[-1.0, 256.0, 3.0])
        );
        let b = Tensor::Bool(array![true, false].into_dyn());
        assert_eq!(
            cast_sat(DType::I16, Saturation::Saturate, &[op(&b)]).unwrap(),
            Tensor::I16(array![1i16, 0].into_dyn())
        );
        assert_eq!(
            cast_sat(DType::F32, Saturation::Saturate, &[op(&b)]).unwrap(),
            f32t(&[2], &[1.0, 0.0])
        );
        assert_eq!(
            cast_sat(DType::Bool, Saturation::Saturate, &[op(&b)]).unwrap(),
            b
        );
        let f8 = cast_sat(DType::F8E4M3, Saturation::Saturate, &[op(&f)]).unwrap();
        assert_eq!(
            f8,
            Tensor::F8E4M3(array![0xc3u8, 0xb0, 0x00, 0x44, 0x79].into_dyn())
        );
        assert_eq!(
            cast_sat(DType::F32, Saturation::Saturate, &[op(&f8)]).unwrap(),
            f32t(&[5], &[-2.75, -0.5, 0.0, 3.0, 288.0])
        );
        assert_eq!(
            cast_sat(DType::I32, Saturation::Saturate, &[op(&f8)]).unwrap(),
            Tensor::I32(array![-2, 0, 0, 3, 288].into_dyn())
        );
    }
}
