//! Integer kernels on quantized tensors, following TFLite's reference kernels
//! (`reference_integer_ops` and the int8 paths of `reference_ops`): fixed-point
//! requantization, rounding and saturation are reproduced exactly, so that results are
//! bit-exact with LiteRT's `BUILTIN_REF` kernels.

/// Evaluates `$body` with `$s` bound to an integer tensor's elements as a contiguous
/// slice of their own type (a widened i32 copy when the array is not contiguous).
macro_rules! with_int_slice {
    ($t:expr, $s:ident => $body:expr) => {{
        let widened;
        match $t {
            Tensor::I8(a) if a.as_slice().is_some() => {
                let $s = a.as_slice().expect("checked");
                $body
            }
            Tensor::U8(a) if a.as_slice().is_some() => {
                let $s = a.as_slice().expect("checked");
                $body
            }
            Tensor::I16(a) if a.as_slice().is_some() => {
                let $s = a.as_slice().expect("checked");
                $body
            }
            other => {
                widened = super::ints(other)?;
                let $s = &widened[..];
                $body
            }
        }
    }};
}

mod conv;
pub use conv::channel_multipliers;
mod cumulative;
mod data;
mod elementwise;
pub mod fixedpoint;
pub use data::{requantize, requantize_multiplier, resize_nhwc, tflite_resize_flags, TfliteResize};
pub use softmax::{softmax_fixed_point, softmax_reference, softmax_table, softmax_with_table};
mod pool;
mod recurrent;
mod sigmoid16;
mod softmax;
mod svdf;
mod unary;
pub use svdf::{svdf_integer, svdf_params, SvdfParams};

use super::Operand;
use crate::ir::{Activation, DType, Op, QuantParams, QuantizeRounding, Tensor, TensorType};
use crate::kernels::PreparedWeights;
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// Whether a quantized kernel exists for `op` (otherwise the float path handles it, e.g.
/// for pure data movement, dequantization and ONNX-style quantization).
pub fn handles(op: &Op) -> bool {
    if let Op::Unary { func } = op {
        return unary::has_kernel(*func);
    }
    matches!(
        op,
        Op::Conv(_)
            | Op::ConvTranspose { .. }
            | Op::MatMul
            | Op::Gemm(_)
            | Op::Binary { .. }
            | Op::PRelu
            | Op::Svdf { .. }
            | Op::Recurrent(_)
            | Op::Activation { .. }
            | Op::Softmax { .. }
            | Op::Pool { .. }
            | Op::Reduce { .. }
            | Op::Reshape { .. }
            | Op::Concat { .. }
            | Op::Pad { .. }
            | Op::Resize { .. }
            | Op::Cumulative { .. }
            | Op::Quantize {
                rounding: QuantizeRounding::Tflite,
                ..
            }
    )
}

/// Evaluates `op` on quantized operands.
pub fn eval(
    op: &Op,
    inputs: &[Operand<'_>],
    outputs: &[TensorType],
    slot: Option<&PreparedWeights>,
) -> Result<Vec<Tensor>> {
    if let Op::Svdf { rank, .. } = op {
        return svdf::svdf(*rank, inputs, outputs);
    }
    if let Op::Recurrent(a) = op {
        return recurrent::lstm(a, inputs, outputs);
    }
    let out = outputs
        .first()
        .ok_or_else(|| crate::Error::new("op has no output"))?;
    let t = match op {
        Op::Conv(c) => conv::conv(c, inputs, out, slot)?,
        Op::ConvTranspose { conv: c, .. } => conv::conv_transpose(c, inputs, out)?,
        Op::Gemm(g) => {
            if !g.is_fully_connected() {
                bail!("quantized gemm supports alpha = beta = 1 and no transposed A only");
            }
            conv::fully_connected(g.trans_b, g.activation, inputs, out, slot)?
        }
        Op::Binary { kind, activation } => elementwise::binary(*kind, *activation, inputs, out)?,
        Op::PRelu => elementwise::prelu(inputs, out)?,
        Op::MatMul => conv::matmul(inputs, out)?,
        Op::Activation { act } => elementwise::activation(*act, input(inputs, 0)?, out)?,
        Op::Unary { func } => unary::unary(*func, input(inputs, 0)?, out)?,
        Op::Softmax { axis, beta } => softmax::softmax(*axis, *beta, input(inputs, 0)?, out)?,
        Op::Pool { pool, activation } => pool::pool(pool, *activation, input(inputs, 0)?, out)?,
        Op::Reduce { kind, axes, .. } => pool::reduce(*kind, axes, input(inputs, 0)?, out)?,
        Op::Reshape { .. } => data::reshape(input(inputs, 0)?, out)?,
        Op::Concat { axis } => data::concat(*axis, inputs, out)?,
        Op::Pad { pads, mode, value } => data::pad(pads, *mode, *value, input(inputs, 0)?, out)?,
        Op::Resize {
            mode,
            coord,
            nearest,
            filter,
            ..
        } if filter.is_default() => data::resize(*mode, *coord, *nearest, input(inputs, 0)?, out)?,
        Op::Quantize { .. } => data::quantize(input(inputs, 0)?, out)?,
        Op::Cumulative {
            kind,
            axis,
            exclusive,
            reverse,
        } => cumulative::cumulative(*kind, *axis, *exclusive, *reverse, input(inputs, 0)?, out)?,
        other => bail!(
            "the interpreter has no quantized kernel for '{}'",
            other.name()
        ),
    };
    Ok(vec![t])
}

fn input<'a>(inputs: &'a [Operand<'a>], i: usize) -> Result<&'a Operand<'a>> {
    inputs
        .get(i)
        .ok_or_else(|| crate::Error::new(format!("missing input {i}")))
}

/// Per-tensor scale and zero point of a quantized type.
pub(crate) fn per_tensor(ty: &TensorType, what: &str) -> Result<(f32, i32)> {
    match &ty.quant {
        Some(q) if q.scale.len() == 1 => Ok((q.scale[0], q.zero_point[0] as i32)),
        Some(_) => bail!("{what} must be quantized per tensor, got {ty}"),
        None => bail!("{what} must be quantized, got {ty}"),
    }
}

/// Per-channel scales (length `n`) and zero points of a possibly per-axis quantized type.
pub(crate) fn channel_params(q: &QuantParams, n: usize, what: &str) -> Result<Vec<(f32, i32)>> {
    if q.scale.len() != 1 && q.scale.len() != n {
        bail!("{what} has {} scales, expected 1 or {n}", q.scale.len());
    }
    Ok((0..n)
        .map(|i| q.at(i))
        .map(|(s, z)| (s, z as i32))
        .collect())
}

/// Integer element values of a tensor as i32 (int8/uint8/int16/int32 data).
pub(crate) fn ints(t: &Tensor) -> Result<Vec<i32>> {
    Ok(match t {
        Tensor::I8(a) => widen(a),
        Tensor::U8(a) => widen(a),
        Tensor::I16(a) => widen(a),
        Tensor::I32(a) => widen(a),
        other => bail!("expected integer data, got {}", other.dtype()),
    })
}

/// The elements of `a` in logical order as i32 (a plain slice walk when `a` is
/// contiguous: ndarray's dynamic-rank iterator is many times slower).
fn widen<T: Copy + Into<i32>>(a: &ArrayD<T>) -> Vec<i32> {
    match a.as_slice() {
        Some(s) => s.iter().map(|&v| v.into()).collect(),
        None => a.iter().map(|&v| v.into()).collect(),
    }
}

/// Builds an integer tensor from i32 values already within `dtype`'s range.
pub(crate) fn from_ints(dtype: DType, shape: &[usize], v: Vec<i32>) -> Result<Tensor> {
    fn mk<T>(shape: &[usize], v: Vec<T>) -> Result<ArrayD<T>> {
        ArrayD::from_shape_vec(IxDyn(shape), v)
            .map_err(|e| crate::Error::new(format!("kernel output shape mismatch: {e}")))
    }
    Ok(match dtype {
        DType::I8 => Tensor::I8(mk(shape, v.into_iter().map(|x| x as i8).collect())?),
        DType::U8 => Tensor::U8(mk(shape, v.into_iter().map(|x| x as u8).collect())?),
        DType::I16 => Tensor::I16(mk(shape, v.into_iter().map(|x| x as i16).collect())?),
        DType::I32 => Tensor::I32(mk(shape, v)?),
        other => bail!("quantized kernels do not produce {other}"),
    })
}

/// Integer range of a quantized element type.
pub(crate) fn qrange(dtype: DType) -> Result<(i32, i32)> {
    match dtype {
        DType::I8 | DType::U8 | DType::I16 => {
            let (lo, hi) = dtype.int_range().expect("integer type");
            Ok((lo as i32, hi as i32))
        }
        DType::I32 => Ok((i32::MIN, i32::MAX)),
        other => bail!("{other} is not a quantized integer type"),
    }
}

/// TFLite `CalculateActivationRangeQuantized`: the clamp interval of a fused activation in
/// the output's quantized domain.
pub fn activation_range(act: Option<Activation>, out: &TensorType) -> Result<(i32, i32)> {
    let (qmin, qmax) = qrange(out.dtype)?;
    let Some(act) = act else {
        return Ok((qmin, qmax));
    };
    let (scale, zp) = per_tensor(out, "output")?;
    let quantize = |f: f32| zp + fixedpoint::round_f32(f / scale) as i32;
    Ok(match act {
        Activation::Relu => (qmin.max(quantize(0.0)), qmax),
        Activation::Relu6 => (qmin.max(quantize(0.0)), qmax.min(quantize(6.0))),
        Activation::ReluN1To1 => (qmin.max(quantize(-1.0)), qmax.min(quantize(1.0))),
        Activation::Clip { min, max } => (qmin.max(quantize(min)), qmax.min(quantize(max))),
        other => bail!("fused activation {other:?} has no integer clamp"),
    })
}
