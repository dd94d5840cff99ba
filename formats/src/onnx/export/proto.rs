//! Small constructors for ONNX protobuf messages.

use crate::onnx::packing;
use nnopt_compiler::ir::{DType, Tensor, TensorType};
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::type_proto::{self, Value};
use tract_onnx::pb::{
    AttributeProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// ONNX element type code of an IR dtype.
pub fn onnx_dtype(d: DType) -> i32 {
    let known = match d {
        DType::F32 => DataType::Float,
        DType::I8 => DataType::Int8,
        DType::U8 => DataType::Uint8,
        DType::I16 => DataType::Int16,
        DType::I32 => DataType::Int32,
        DType::I64 => DataType::Int64,
        DType::Bool => DataType::Bool,
        DType::F8E4M3 => DataType::Float8e4m3fn,
        DType::F8E5M2 => DataType::Float8e5m2,
        DType::F16 => DataType::Float16,
        DType::Bf16 => DataType::Bfloat16,
        DType::F64 => DataType::Double,
        DType::U16 => DataType::Uint16,
        DType::U32 => DataType::Uint32,
        DType::U64 => DataType::Uint64,
        DType::I4 => DataType::Int4,
        DType::U4 => DataType::Uint4,
        DType::F4E2M1 => DataType::Float4e2m1,
        DType::F8E4M3Fnuz => DataType::Float8e4m3fnuz,
        DType::F8E5M2Fnuz => DataType::Float8e5m2fnuz,
        // Newer than tract's protobuf enum.
        DType::F8E8M0 => return 24,
        DType::U2 => return 25,
        DType::I2 => return 26,
    };
    known as i32
}

/// The first ONNX opset with an element type (older types: any opset nnopt writes).
pub fn first_opset(d: DType) -> i64 {
    match d {
        DType::F8E4M3 | DType::F8E5M2 | DType::F8E4M3Fnuz | DType::F8E5M2Fnuz => 19,
        DType::I4 | DType::U4 => 21,
        DType::F4E2M1 => 23,
        DType::F8E8M0 => 24,
        DType::I2 | DType::U2 => 25,
        _ => 1,
    }
}

/// A tensor initializer with little-endian raw data (4- and 2-bit types packed).
pub fn tensor_proto(name: &str, t: &Tensor) -> TensorProto {
    let bytes = t.to_le_bytes();
    TensorProto {
        name: name.to_string(),
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: onnx_dtype(t.dtype()),
        raw_data: match packing::packed_bits(t.dtype()) {
            Some(bits) => packing::pack(&bytes, bits),
            None => bytes,
        },
        ..Default::default()
    }
}

/// A graph input/output declaration.
pub fn value_info(name: &str, ty: &TensorType) -> ValueInfoProto {
    let dims = ty
        .shape
        .iter()
        .map(|&d| Dimension {
            value: Some(dimension::Value::DimValue(d as i64)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(type_proto::Tensor {
                elem_type: onnx_dtype(ty.dtype),
                shape: Some(TensorShapeProto { dim: dims }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An attribute.
pub enum Attr {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Str(String),
    Strs(Vec<String>),
}

/// An attribute proto.
pub fn attr(name: &str, a: Attr) -> AttributeProto {
    let mut p = AttributeProto {
        name: name.to_string(),
        ..Default::default()
    };
    match a {
        Attr::Int(i) => {
            p.r#type = AttributeType::Int as i32;
            p.i = i;
        }
        Attr::Float(f) => {
            p.r#type = AttributeType::Float as i32;
            p.f = f;
        }
        Attr::Ints(v) => {
            p.r#type = AttributeType::Ints as i32;
            p.ints = v;
        }
        Attr::Floats(v) => {
            p.r#type = AttributeType::Floats as i32;
            p.floats = v;
        }
        Attr::Str(s) => {
            p.r#type = AttributeType::String as i32;
            p.s = s.into_bytes();
        }
        Attr::Strs(v) => {
            p.r#type = AttributeType::Strings as i32;
            p.strings = v.into_iter().map(String::into_bytes).collect();
        }
    }
    p
}

/// A node.
pub fn node(
    op_type: &str,
    name: &str,
    inputs: Vec<String>,
    outputs: Vec<String>,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op_type.to_string(),
        name: name.to_string(),
        input: inputs,
        output: outputs,
        attribute: attrs,
        ..Default::default()
    }
}
