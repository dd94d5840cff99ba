//! ONNX tensors and value types to IR tensors and types.

use crate::onnx::packing;
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{DType, Tensor, TensorType};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};

type R<T> = std::result::Result<T, String>;

fn data_type(code: i32) -> R<DataType> {
    DataType::try_from(code).map_err(|_| format!("unknown ONNX data type {code}"))
}

/// ONNX element types newer than tract's protobuf enum (FLOAT8E8M0, UINT2, INT2).
const FLOAT8E8M0: i32 = 24;
const UINT2: i32 = 25;
const INT2: i32 = 26;

/// The IR dtype of an ONNX element type, for values computed at run time.
pub fn dtype_of(code: i32) -> R<DType> {
    match code {
        FLOAT8E8M0 => return Ok(DType::F8E8M0),
        UINT2 => return Ok(DType::U2),
        INT2 => return Ok(DType::I2),
        _ => {}
    }
    Ok(match data_type(code)? {
        DataType::Float => DType::F32,
        DataType::Uint8 => DType::U8,
        DataType::Int8 => DType::I8,
        DataType::Int16 => DType::I16,
        DataType::Int32 => DType::I32,
        DataType::Int64 => DType::I64,
        DataType::Bool => DType::Bool,
        DataType::Float8e4m3fn => DType::F8E4M3,
        DataType::Float8e5m2 => DType::F8E5M2,
        DataType::Float8e4m3fnuz => DType::F8E4M3Fnuz,
        DataType::Float8e5m2fnuz => DType::F8E5M2Fnuz,
        DataType::Float16 => DType::F16,
        DataType::Bfloat16 => DType::Bf16,
        DataType::Double => DType::F64,
        DataType::Uint16 => DType::U16,
        DataType::Uint32 => DType::U32,
        DataType::Uint64 => DType::U64,
        DataType::Uint4 => DType::U4,
        DataType::Int4 => DType::I4,
        DataType::Float4e2m1 => DType::F4E2M1,
        other => {
            return Err(format!(
                "element type {} is not supported",
                other.as_str_name()
            ))
        }
    })
}

/// The IR type of a graph input. A missing or symbolic first dimension is taken as a
/// batch of 1; other dimensions must be known.
pub fn input_type(vi: &pb::ValueInfoProto) -> R<TensorType> {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    let Some(pb::type_proto::Value::TensorType(tt)) =
        vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err("only tensor inputs are supported".into());
    };
    let dtype = dtype_of(tt.elem_type)?;
    let shape = tt.shape.as_ref().ok_or("the input has no shape")?;
    let mut dims = Vec::with_capacity(shape.dim.len());
    for (i, d) in shape.dim.iter().enumerate() {
        dims.push(match &d.value {
            Some(Dim::DimValue(v)) if *v >= 0 && *v < 1 << 32 => *v as usize,
            Some(Dim::DimValue(v)) => return Err(format!("dimension {i} is invalid ({v})")),
            _ if i == 0 => 1,
            Some(Dim::DimParam(p)) => {
                return Err(format!(
                    "dimension {i} is symbolic ('{p}'); only the batch dimension may be"
                ))
            }
            None => {
                return Err(format!(
                    "dimension {i} is unknown; only the batch dimension may be"
                ))
            }
        });
    }
    super::element_count(&dims).map_err(|e| e.message)?;
    Ok(TensorType::new(dtype, dims))
}

fn array<T>(shape: &[usize], v: Vec<T>) -> R<ArrayD<T>> {
    let n = v.len();
    ArrayD::from_shape_vec(IxDyn(shape), v)
        .map_err(|_| format!("{n} values do not fill shape {shape:?}"))
}

/// Splits little-endian raw data into fixed-size chunks, checking the length.
fn raw_chunks<const N: usize>(raw: &[u8], n: usize) -> R<impl Iterator<Item = [u8; N]> + '_> {
    if raw.len() != n * N {
        return Err(format!(
            "raw_data has {} bytes, {} expected",
            raw.len(),
            n * N
        ));
    }
    Ok(raw
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunk size")))
}

fn typed<T: Copy>(field: &[T], n: usize, what: &str) -> R<Vec<T>> {
    if field.len() != n {
        return Err(format!("{what} has {} values, {n} expected", field.len()));
    }
    Ok(field.to_vec())
}

/// Converts a TensorProto (raw or typed data) to an IR tensor of the same element type.
pub fn tensor_from_proto(t: &pb::TensorProto) -> R<Tensor> {
    if t.data_location == Some(DataLocation::External as i32) || !t.external_data.is_empty() {
        return Err("external data is not supported (embed the weights in the .onnx file)".into());
    }
    if t.segment.is_some() {
        return Err("segmented tensors are not supported".into());
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension in {:?}", t.dims)))
        .collect::<R<Vec<usize>>>()?;
    let n = super::element_count(&shape).map_err(|e| e.message)?;
    let raw = &t.raw_data;
    let use_raw = !raw.is_empty() || n == 0;
    let i32s = |what| typed(&t.int32_data, n, what);
    if let Some(bits) = packing::packed_bits(dtype_of(t.data_type)?) {
        // Packed little end first, in raw_data or one byte per int32_data entry.
        let bytes: Vec<u8> = if use_raw {
            raw.to_vec()
        } else {
            t.int32_data.iter().map(|&x| x as u8).collect()
        };
        return narrow_tensor(
            dtype_of(t.data_type)?,
            &shape,
            &packing::unpack(&bytes, bits, n)?,
        );
    }
    if let dt @ (DType::F8E4M3Fnuz | DType::F8E5M2Fnuz | DType::F8E8M0) = dtype_of(t.data_type)? {
        let codes: Vec<u8> = if use_raw {
            raw_chunks::<1>(raw, n)?.map(|b| b[0]).collect()
        } else {
            i32s("int32_data")?.into_iter().map(|x| x as u8).collect()
        };
        return narrow_tensor(dt, &shape, &codes);
    }
    Ok(match data_type(t.data_type)? {
        DataType::Float => Tensor::F32(array(
            &shape,
            if use_raw {
                raw_chunks::<4>(raw, n)?.map(f32::from_le_bytes).collect()
            } else {
                typed(&t.float_data, n, "float_data")?
            },
        )?),
        DataType::Double => Tensor::F64(array(
            &shape,
            if use_raw {
                raw_chunks::<8>(raw, n)?.map(f64::from_le_bytes).collect()
            } else {
                typed(&t.double_data, n, "double_data")?
            },
        )?),
        dt @ (DataType::Float16 | DataType::Bfloat16) => {
            let bits: Vec<u16> = if use_raw {
                raw_chunks::<2>(raw, n)?.map(u16::from_le_bytes).collect()
            } else {
                i32s("int32_data")?.into_iter().map(|x| x as u16).collect()
            };
            if dt == DataType::Float16 {
                Tensor::F16(array(
                    &shape,
                    bits.into_iter().map(f16::from_bits).collect(),
                )?)
            } else {
                Tensor::Bf16(array(
                    &shape,
                    bits.into_iter().map(bf16::from_bits).collect(),
                )?)
            }
        }
        DataType::Int8 => Tensor::I8(array(
            &shape,
            if use_raw {
                raw_chunks::<1>(raw, n)?.map(|b| b[0] as i8).collect()
            } else {
                i32s("int32_data")?.into_iter().map(|x| x as i8).collect()
            },
        )?),
        dt @ (DataType::Uint8 | DataType::Float8e4m3fn | DataType::Float8e5m2) => {
            let v: Vec<u8> = if use_raw {
                raw_chunks::<1>(raw, n)?.map(|b| b[0]).collect()
            } else {
                i32s("int32_data")?.into_iter().map(|x| x as u8).collect()
            };
            let a = array(&shape, v)?;
            match dt {
                DataType::Uint8 => Tensor::U8(a),
                DataType::Float8e4m3fn => Tensor::F8E4M3(a),
                _ => Tensor::F8E5M2(a),
            }
        }
        DataType::Bool => Tensor::Bool(array(
            &shape,
            if use_raw {
                raw_chunks::<1>(raw, n)?.map(|b| b[0] != 0).collect()
            } else {
                i32s("int32_data")?.into_iter().map(|x| x != 0).collect()
            },
        )?),
        DataType::Int16 => Tensor::I16(array(
            &shape,
            if use_raw {
                raw_chunks::<2>(raw, n)?.map(i16::from_le_bytes).collect()
            } else {
                i32s("int32_data")?.into_iter().map(|x| x as i16).collect()
            },
        )?),
        DataType::Uint16 => Tensor::U16(array(
            &shape,
            if use_raw {
                raw_chunks::<2>(raw, n)?.map(u16::from_le_bytes).collect()
            } else {
                i32s("int32_data")?.into_iter().map(|x| x as u16).collect()
            },
        )?),
        DataType::Int32 => Tensor::I32(array(
            &shape,
            if use_raw {
                raw_chunks::<4>(raw, n)?.map(i32::from_le_bytes).collect()
            } else {
                i32s("int32_data")?
            },
        )?),
        DataType::Int64 => Tensor::I64(array(
            &shape,
            if use_raw {
                raw_chunks::<8>(raw, n)?.map(i64::from_le_bytes).collect()
            } else {
                typed(&t.int64_data, n, "int64_data")?
            },
        )?),
        DataType::Uint32 => Tensor::U32(array(
            &shape,
            if use_raw {
                raw_chunks::<4>(raw, n)?.map(u32::from_le_bytes).collect()
            } else {
                typed(&t.uint64_data, n, "uint64_data")?
                    .into_iter()
                    .map(|x| x as u32)
                    .collect()
            },
        )?),
        DataType::Uint64 => Tensor::U64(array(
            &shape,
            if use_raw {
                raw_chunks::<8>(raw, n)?.map(u64::from_le_bytes).collect()
            } else {
                typed(&t.uint64_data, n, "uint64_data")?
            },
        )?),
        other => {
            return Err(format!(
                "element type {} is not supported",
                other.as_str_name()
            ))
        }
    })
}

/// A tensor of a narrow type from its codes (sub-byte integers sign-extended).
fn narrow_tensor(dtype: DType, shape: &[usize], codes: &[u8]) -> R<Tensor> {
    let signed = |v: &u8| dtype.wrap_int(*v as i64) as i8;
    Ok(match dtype {
        DType::I4 => Tensor::I4(array(shape, codes.iter().map(signed).collect())?),
        DType::I2 => Tensor::I2(array(shape, codes.iter().map(signed).collect())?),
        DType::U4 => Tensor::U4(array(shape, codes.to_vec())?),
        DType::U2 => Tensor::U2(array(shape, codes.to_vec())?),
        DType::F4E2M1 => Tensor::F4E2M1(array(shape, codes.to_vec())?),
        DType::F8E4M3Fnuz => Tensor::F8E4M3Fnuz(array(shape, codes.to_vec())?),
        DType::F8E5M2Fnuz => Tensor::F8E5M2Fnuz(array(shape, codes.to_vec())?),
        DType::F8E8M0 => Tensor::F8E8M0(array(shape, codes.to_vec())?),
        other => return Err(format!("{other} is not a narrow type")),
    })
}
