//! The NPU's boundary conversions: quantization of float inputs and dequantization of
//! outputs, with the same rounding as the IR's `quantize` / `dequantize` ops.

use crate::npu::program::{IoBinding, IoConversion, TensorDesc};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::interp::fixedpoint::round_f32;
use nnopt_compiler::ir::{QuantizeRounding, Tensor};
use nnopt_compiler::{Error, Result};

/// Per-tensor scale and zero point of an arena tensor.
fn params(t: &TensorDesc) -> Result<(f32, i64)> {
    match &t.quant {
        Some(q) if q.scale.len() == 1 && q.zero_point.len() == 1 => {
            Ok((q.scale[0], q.zero_point[0]))
        }
        _ => Err(Error::new(format!(
            "tensor '{}' needs per-tensor quantization for IO conversion",
            t.name
        ))),
    }
}

/// Integer range of the arena tensor's element type.
fn range(t: &TensorDesc) -> Result<(i64, i64)> {
    t.dtype
        .int_range()
        .filter(|_| t.dtype.is_quantizable_int())
        .ok_or_else(|| Error::new(format!("tensor '{}' is not an integer tensor", t.name)))
}

/// Converts caller data for binding `b` into the integers stored in arena tensor `t`:
/// returns the value to write.
pub fn convert_input(b: &IoBinding, t: &TensorDesc, x: &Tensor) -> Result<Tensor> {
    if x.dtype() != b.dtype || x.shape() != b.shape.as_slice() {
        return Err(Error::at_node(
            &b.name,
            format!(
                "input must be {}{:?}, got {}{:?}",
                b.dtype,
                b.shape,
                x.dtype(),
                x.shape()
            ),
        ));
    }
    let IoConversion::Quantize { rounding } = b.conversion else {
        return Ok(x.clone());
    };
    let a = x
        .as_f32()
        .ok_or_else(|| Error::at_node(&b.name, "quantized inputs take f32 data"))?;
    let (s, zp) = params(t)?;
    let (lo, hi) = range(t)?;
    let q: Vec<f64> = a
        .iter()
        .map(|&v| {
            let r = match rounding {
                // TFLite QUANTIZE (AffineQuantize): round half away from zero in f32.
                QuantizeRounding::Tflite => (round_f32(v / s) as i32 as i64).saturating_add(zp),
                // ONNX QuantizeLinear: round half to even.
                QuantizeRounding::HalfEven => ((v / s).round_ties_even() as i64).saturating_add(zp),
            };
            r.clamp(lo, hi) as f64
        })
        .collect();
    Tensor::from_f64s(t.dtype, &t.shape, &q)
        .ok_or_else(|| Error::at_node(&b.name, "input does not match its arena tensor"))
}

/// Converts arena tensor data `v` (of tensor `t`) to what binding `b` returns.
pub fn convert_output(b: &IoBinding, t: &TensorDesc, v: Tensor) -> Result<Tensor> {
    if b.conversion != IoConversion::Dequantize {
        return Ok(v);
    }
    let (s, zp) = params(t)?;
    let ints = v
        .to_i64_vec()
        .ok_or_else(|| Error::at_node(&b.name, "dequantized outputs need integer data"))?;
    let f: Vec<f32> = ints.iter().map(|&q| (q - zp) as f32 * s).collect();
    ArrayD::from_shape_vec(IxDyn(&b.shape), f)
        .map(Tensor::F32)
        .map_err(|e| Error::at_node(&b.name, format!("output shape: {e}")))
}
