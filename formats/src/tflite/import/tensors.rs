//! TFLite tensors to IR types and constant data: element types, shapes, quantization
//! parameters (with the fix-ups old models need) and little-endian buffer decoding (sparse
//! constants expanded first).

use super::fb;
use super::model::ModelFile;
use super::sparse;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{DType, QuantParams, Tensor, TensorType};
use nnopt_compiler::limits::shape_elements;
use nnopt_compiler::{bail, Result};

/// The largest tensor (in elements) the importer accepts.
const MAX_ELEMENTS: usize = 1 << 31;

/// IR element type of a TFLite tensor type (`FLOAT16` is only accepted for constants that
/// feed a DEQUANTIZE, see [`f16_to_f32`]).
pub fn dtype(t: fb::TensorType) -> Result<DType> {
    Ok(match t {
        fb::TensorType::FLOAT32 => DType::F32,
        fb::TensorType::INT8 => DType::I8,
        fb::TensorType::UINT8 => DType::U8,
        fb::TensorType::INT16 => DType::I16,
        fb::TensorType::INT32 => DType::I32,
        fb::TensorType::INT64 => DType::I64,
        fb::TensorType::BOOL => DType::Bool,
        other => bail!(
            "tensor type {} is not supported",
            other.variant_name().unwrap_or("unknown")
        ),
    })
}

/// Static shape of a tensor; dynamic (negative) dimensions are rejected.
pub fn shape(t: &fb::Tensor<'_>) -> Result<Vec<usize>> {
    let dims: Vec<i32> = t.shape().map_or_else(Vec::new, |s| s.iter().collect());
    let mut n: usize = 1;
    let mut out = Vec::with_capacity(dims.len());
    for d in dims {
        if d < 0 {
            bail!(
                "tensor '{}' has a dynamic shape {:?}",
                t.name().unwrap_or(""),
                t.shape().map(|s| s.iter().collect::<Vec<_>>())
            );
        }
        n = n
            .checked_mul(d as usize)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                nnopt_compiler::Error::new(format!(
                    "tensor '{}' is too large",
                    t.name().unwrap_or("")
                ))
            })?;
        out.push(d as usize);
    }
    Ok(out)
}

/// Quantization parameters of a tensor, or `None` when it has none (or only zero scales).
///
/// A per-axis `quantized_dimension` that does not fit the tensor is repaired where the
/// intent is unambiguous: old converters (e.g. TFLite Micro's person_detect) write the
/// depthwise weights' dimension 3 on the 1-D biases too; those become axis 0.
pub fn quant(t: &fb::Tensor<'_>, shape: &[usize]) -> Result<Option<QuantParams>> {
    let Some(q) = t.quantization() else {
        return Ok(None);
    };
    let scale: Vec<f32> = q.scale().map_or_else(Vec::new, |s| s.iter().collect());
    if scale.is_empty() || scale.iter().all(|&s| s == 0.0) {
        return Ok(None);
    }
    let name = t.name().unwrap_or("");
    if scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        bail!("tensor '{name}' has an invalid quantization scale");
    }
    let n = scale.len();
    let mut zero_point: Vec<i64> = q.zero_point().map_or_else(Vec::new, |z| z.iter().collect());
    if zero_point.is_empty() {
        zero_point = vec![0; n];
    }
    if zero_point.len() != n && zero_point.len() != 1 {
        bail!(
            "tensor '{name}' has {n} scales but {} zero points",
            zero_point.len()
        );
    }
    if n == 1 {
        return Ok(Some(QuantParams {
            scale,
            zero_point: vec![zero_point[0]],
            axis: None,
        }));
    }
    let qd = q.quantized_dimension();
    let axis = if qd >= 0 && (qd as usize) < shape.len() && shape[qd as usize] == n {
        qd as usize
    } else if shape.len() == 1 && shape[0] == n {
        0
    } else {
        bail!("tensor '{name}' {shape:?} has {n} scales along quantized_dimension {qd}, which does not fit");
    };
    Ok(Some(QuantParams {
        scale,
        zero_point,
        axis: Some(axis),
    }))
}

/// The IR type of tensor `t` (FLOAT16 tensors are typed as their f32 dequantization).
pub fn tensor_type(t: &fb::Tensor<'_>) -> Result<TensorType> {
    let s = shape(t)?;
    let dt = if t.type_() == fb::TensorType::FLOAT16 {
        DType::F32
    } else {
        dtype(t.type_())?
    };
    let q = quant(t, &s)?;
    Ok(TensorType::new(dt, s).with_quant(q.filter(|_| dt.is_quantizable_int())))
}

fn expect_len(name: &str, bytes: &[u8], n: usize, size: usize) -> Result<()> {
    if bytes.len() != n * size {
        bail!(
            "constant '{name}' has {} bytes, its shape needs {}",
            bytes.len(),
            n * size
        );
    }
    Ok(())
}

/// Decodes the constant data of tensor `t` (little-endian, sparse tensors expanded), or
/// `None` for activations.
pub fn const_data(file: &ModelFile<'_>, t: &fb::Tensor<'_>) -> Result<Option<Tensor>> {
    let stored = file.tensor_data(t)?;
    let s = shape(t)?;
    let name = t.name().unwrap_or("");
    let expanded;
    let bytes = match (t.sparsity(), stored) {
        (None, None) => return Ok(None),
        (None, Some(bytes)) => bytes,
        // A sparse constant whose values are all zero stores no values.
        (Some(sp), stored) => {
            let elem = if t.type_() == fb::TensorType::FLOAT16 {
                2
            } else {
                dtype(t.type_())?.size_bytes()
            };
            expanded = sparse::densify(name, &sp, &s, elem, stored.unwrap_or(&[]))?;
            &expanded[..]
        }
    };
    if t.type_() == fb::TensorType::FLOAT16 {
        return f16_to_f32(name, bytes, &s).map(Some);
    }
    let dt = dtype(t.type_())?;
    let n = shape_elements(&s, dt.size_bytes(), &format!("constant '{name}'"))?;
    expect_len(name, bytes, n, dt.size_bytes())?;
    fn arr<T, const N: usize>(s: &[usize], b: &[u8], f: fn([u8; N]) -> T) -> ArrayD<T> {
        let v = b
            .chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunk size")))
            .collect();
        ArrayD::from_shape_vec(IxDyn(s), v).expect("length checked")
    }
    Ok(Some(match dt {
        DType::F32 => Tensor::F32(arr(&s, bytes, f32::from_le_bytes)),
        DType::I8 => Tensor::I8(arr(&s, bytes, i8::from_le_bytes)),
        DType::U8 => Tensor::U8(arr(&s, bytes, u8::from_le_bytes)),
        DType::I16 => Tensor::I16(arr(&s, bytes, i16::from_le_bytes)),
        DType::I32 => Tensor::I32(arr(&s, bytes, i32::from_le_bytes)),
        DType::I64 => Tensor::I64(arr(&s, bytes, i64::from_le_bytes)),
        DType::Bool => Tensor::Bool(arr(&s, bytes, |b: [u8; 1]| b[0] != 0)),
        other => bail!("constant '{name}' has unsupported type {other}"),
    }))
}

/// Converts float16 constant bytes (as MediaPipe stores weights) to f32.
pub fn f16_to_f32(name: &str, bytes: &[u8], s: &[usize]) -> Result<Tensor> {
    let n = shape_elements(s, 2, &format!("constant '{name}'"))?;
    expect_len(name, bytes, n, 2)?;
    let v = bytes
        .chunks_exact(2)
        .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect();
    Ok(Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(s), v).expect("length checked"),
    ))
}
