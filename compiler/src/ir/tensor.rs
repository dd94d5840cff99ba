//! Tensor types (dtype, shape, quantization) and constant tensor data.

use super::dtype::DType;
use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Affine quantization parameters: `real = scale * (q - zero_point)`.
///
/// Per-tensor when `axis` is `None` (one scale and zero point), per-axis otherwise
/// (one scale and zero point per index of `axis`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: Option<usize>,
}

impl QuantParams {
    /// Per-tensor parameters.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        QuantParams {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: None,
        }
    }

    /// Scale and zero point that apply to index `i` along the quantized axis (or the
    /// single pair for per-tensor parameters).
    pub fn at(&self, i: usize) -> (f32, i64) {
        if self.scale.len() == 1 {
            (self.scale[0], self.zero_point[0])
        } else {
            (
                self.scale[i],
                self.zero_point
                    .get(i)
                    .copied()
                    .unwrap_or(self.zero_point[0]),
            )
        }
    }
}

/// The static type of an IR value: element type, shape and optional quantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub quant: Option<QuantParams>,
}

impl TensorType {
    /// A type without quantization parameters.
    pub fn new(dtype: DType, shape: impl Into<Vec<usize>>) -> Self {
        TensorType {
            dtype,
            shape: shape.into(),
            quant: None,
        }
    }

    /// The same type with quantization parameters.
    pub fn with_quant(mut self, quant: Option<QuantParams>) -> Self {
        self.quant = quant;
        self
    }

    /// Number of elements.
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size in bytes of a dense tensor of this type.
    pub fn size_bytes(&self) -> usize {
        self.num_elements() * self.dtype.size_bytes()
    }

    /// Whether the type is an integer type with quantization parameters.
    pub fn is_quantized(&self) -> bool {
        self.quant.is_some() && self.dtype.is_quantizable_int()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")?;
        if let Some(q) = &self.quant {
            write!(f, " q(scale={:?}, zp={:?}", q.scale, q.zero_point)?;
            if let Some(a) = q.axis {
                write!(f, ", axis={a}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Dense tensor data, one variant per element type. FP8 and FP4 values are stored as raw
/// bits (one code per byte); 4- and 2-bit integers as one value per byte, always within
/// their type's range.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    Bool(ArrayD<bool>),
    F8E4M3(ArrayD<u8>),
    F8E5M2(ArrayD<u8>),
    F16(ArrayD<f16>),
    Bf16(ArrayD<bf16>),
    F64(ArrayD<f64>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    I4(ArrayD<i8>),
    U4(ArrayD<u8>),
    I2(ArrayD<i8>),
    U2(ArrayD<u8>),
    F4E2M1(ArrayD<u8>),
    F8E4M3Fnuz(ArrayD<u8>),
    F8E5M2Fnuz(ArrayD<u8>),
    F8E8M0(ArrayD<u8>),
}

/// Applies the same expression to the array inside any [`Tensor`] variant.
#[macro_export]
macro_rules! map_tensor {
    ($t:expr, $a:ident => $e:expr) => {
        match $t {
            $crate::ir::Tensor::F32($a) => $e,
            $crate::ir::Tensor::I8($a) => $e,
            $crate::ir::Tensor::U8($a) => $e,
            $crate::ir::Tensor::I16($a) => $e,
            $crate::ir::Tensor::I32($a) => $e,
            $crate::ir::Tensor::I64($a) => $e,
            $crate::ir::Tensor::Bool($a) => $e,
            $crate::ir::Tensor::F8E4M3($a) => $e,
            $crate::ir::Tensor::F8E5M2($a) => $e,
            $crate::ir::Tensor::F16($a) => $e,
            $crate::ir::Tensor::Bf16($a) => $e,
            $crate::ir::Tensor::F64($a) => $e,
            $crate::ir::Tensor::U16($a) => $e,
            $crate::ir::Tensor::U32($a) => $e,
            $crate::ir::Tensor::U64($a) => $e,
            $crate::ir::Tensor::I4($a) => $e,
            $crate::ir::Tensor::U4($a) => $e,
            $crate::ir::Tensor::I2($a) => $e,
            $crate::ir::Tensor::U2($a) => $e,
            $crate::ir::Tensor::F4E2M1($a) => $e,
            $crate::ir::Tensor::F8E4M3Fnuz($a) => $e,
            $crate::ir::Tensor::F8E5M2Fnuz($a) => $e,
            $crate::ir::Tensor::F8E8M0($a) => $e,
        }
    };
}

/// Like [`map_tensor!`], but rebuilds a tensor of the same variant from the expression.
#[macro_export]
macro_rules! map_tensor_same {
    ($t:expr, $a:ident => $e:expr) => {
        match $t {
            $crate::ir::Tensor::F32($a) => $crate::ir::Tensor::F32($e),
            $crate::ir::Tensor::I8($a) => $crate::ir::Tensor::I8($e),
            $crate::ir::Tensor::U8($a) => $crate::ir::Tensor::U8($e),
            $crate::ir::Tensor::I16($a) => $crate::ir::Tensor::I16($e),
            $crate::ir::Tensor::I32($a) => $crate::ir::Tensor::I32($e),
            $crate::ir::Tensor::I64($a) => $crate::ir::Tensor::I64($e),
            $crate::ir::Tensor::Bool($a) => $crate::ir::Tensor::Bool($e),
            $crate::ir::Tensor::F8E4M3($a) => $crate::ir::Tensor::F8E4M3($e),
            $crate::ir::Tensor::F8E5M2($a) => $crate::ir::Tensor::F8E5M2($e),
            $crate::ir::Tensor::F16($a) => $crate::ir::Tensor::F16($e),
            $crate::ir::Tensor::Bf16($a) => $crate::ir::Tensor::Bf16($e),
            $crate::ir::Tensor::F64($a) => $crate::ir::Tensor::F64($e),
            $crate::ir::Tensor::U16($a) => $crate::ir::Tensor::U16($e),
            $crate::ir::Tensor::U32($a) => $crate::ir::Tensor::U32($e),
            $crate::ir::Tensor::U64($a) => $crate::ir::Tensor::U64($e),
            $crate::ir::Tensor::I4($a) => $crate::ir::Tensor::I4($e),
            $crate::ir::Tensor::U4($a) => $crate::ir::Tensor::U4($e),
            $crate::ir::Tensor::I2($a) => $crate::ir::Tensor::I2($e),
            $crate::ir::Tensor::U2($a) => $crate::ir::Tensor::U2($e),
            $crate::ir::Tensor::F4E2M1($a) => $crate::ir::Tensor::F4E2M1($e),
            $crate::ir::Tensor::F8E4M3Fnuz($a) => $crate::ir::Tensor::F8E4M3Fnuz($e),
            $crate::ir::Tensor::F8E5M2Fnuz($a) => $crate::ir::Tensor::F8E5M2Fnuz($e),
            $crate::ir::Tensor::F8E8M0($a) => $crate::ir::Tensor::F8E8M0($e),
        }
    };
}

impl Tensor {
    /// Element type of the data.
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::I8(_) => DType::I8,
            Tensor::U8(_) => DType::U8,
            Tensor::I16(_) => DType::I16,
            Tensor::I32(_) => DType::I32,
            Tensor::I64(_) => DType::I64,
            Tensor::Bool(_) => DType::Bool,
            Tensor::F8E4M3(_) => DType::F8E4M3,
            Tensor::F8E5M2(_) => DType::F8E5M2,
            Tensor::F16(_) => DType::F16,
            Tensor::Bf16(_) => DType::Bf16,
            Tensor::F64(_) => DType::F64,
            Tensor::U16(_) => DType::U16,
            Tensor::U32(_) => DType::U32,
            Tensor::U64(_) => DType::U64,
            Tensor::I4(_) => DType::I4,
            Tensor::U4(_) => DType::U4,
            Tensor::I2(_) => DType::I2,
            Tensor::U2(_) => DType::U2,
            Tensor::F4E2M1(_) => DType::F4E2M1,
            Tensor::F8E4M3Fnuz(_) => DType::F8E4M3Fnuz,
            Tensor::F8E5M2Fnuz(_) => DType::F8E5M2Fnuz,
            Tensor::F8E8M0(_) => DType::F8E8M0,
        }
    }

    /// Shape of the data.
    pub fn shape(&self) -> &[usize] {
        map_tensor!(self, a => a.shape())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        map_tensor!(self, a => a.len())
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The type of this data without quantization parameters.
    pub fn tensor_type(&self) -> TensorType {
        TensorType::new(self.dtype(), self.shape().to_vec())
    }

    /// The elements in row-major order as little-endian bytes (booleans as 0 or 1): the
    /// raw layout of an arena tensor or a firmware buffer.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Tensor::F32(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::I8(a) => a.iter().map(|&x| x as u8).collect(),
            Tensor::U8(a) | Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => a.iter().copied().collect(),
            Tensor::I4(a) | Tensor::I2(a) => a.iter().map(|&x| x as u8).collect(),
            Tensor::U4(a)
            | Tensor::U2(a)
            | Tensor::F4E2M1(a)
            | Tensor::F8E4M3Fnuz(a)
            | Tensor::F8E5M2Fnuz(a)
            | Tensor::F8E8M0(a) => a.iter().copied().collect(),
            Tensor::I16(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::I32(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::I64(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::Bool(a) => a.iter().map(|&x| x as u8).collect(),
            Tensor::F16(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::Bf16(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::F64(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::U16(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::U32(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Tensor::U64(a) => a.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// A tensor of `dtype` and `shape` from its little-endian bytes, the layout
    /// [`Tensor::to_le_bytes`] writes (any non-zero byte is `true`; 4- and 2-bit integers
    /// take the low bits of their byte). `None` when the length does not fit the shape.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Option<Tensor> {
        let n: usize = shape.iter().product();
        if bytes.len() != n.checked_mul(dtype.size_bytes())? {
            return None;
        }
        fn v<T, const N: usize>(s: &[usize], b: &[u8], f: impl Fn([u8; N]) -> T) -> ArrayD<T> {
            let it = b
                .chunks_exact(N)
                .map(|c| f(c.try_into().expect("chunk size")));
            ArrayD::from_shape_vec(IxDyn(s), it.collect()).expect("length checked")
        }
        let low = |b: [u8; 1]| dtype.wrap_int(b[0] as i64);
        Some(match dtype {
            DType::F32 => Tensor::F32(v(shape, bytes, f32::from_le_bytes)),
            DType::I8 => Tensor::I8(v(shape, bytes, i8::from_le_bytes)),
            DType::U8 => Tensor::U8(v(shape, bytes, u8::from_le_bytes)),
            DType::I16 => Tensor::I16(v(shape, bytes, i16::from_le_bytes)),
            DType::I32 => Tensor::I32(v(shape, bytes, i32::from_le_bytes)),
            DType::I64 => Tensor::I64(v(shape, bytes, i64::from_le_bytes)),
            DType::Bool => Tensor::Bool(v(shape, bytes, |b: [u8; 1]| b[0] != 0)),
            DType::F16 => Tensor::F16(v(shape, bytes, f16::from_le_bytes)),
            DType::Bf16 => Tensor::Bf16(v(shape, bytes, bf16::from_le_bytes)),
            DType::F64 => Tensor::F64(v(shape, bytes, f64::from_le_bytes)),
            DType::U16 => Tensor::U16(v(shape, bytes, u16::from_le_bytes)),
            DType::U32 => Tensor::U32(v(shape, bytes, u32::from_le_bytes)),
            DType::U64 => Tensor::U64(v(shape, bytes, u64::from_le_bytes)),
            DType::I4 => Tensor::I4(v(shape, bytes, |b| low(b) as i8)),
            DType::I2 => Tensor::I2(v(shape, bytes, |b| low(b) as i8)),
            DType::U4 => Tensor::U4(v(shape, bytes, |b| low(b) as u8)),
            DType::U2 => Tensor::U2(v(shape, bytes, |b| low(b) as u8)),
            DType::F4E2M1 => Tensor::F4E2M1(v(shape, bytes, |b: [u8; 1]| b[0] & 0xf)),
            DType::F8E4M3
            | DType::F8E5M2
            | DType::F8E4M3Fnuz
            | DType::F8E5M2Fnuz
            | DType::F8E8M0 => Tensor::from_codes(dtype, v(shape, bytes, u8::from_le_bytes))?,
        })
    }

    /// A tensor of zeros.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        let s = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::zeros(s)),
            DType::I8 => Tensor::I8(ArrayD::zeros(s)),
            DType::U8 => Tensor::U8(ArrayD::zeros(s)),
            DType::I16 => Tensor::I16(ArrayD::zeros(s)),
            DType::I32 => Tensor::I32(ArrayD::zeros(s)),
            DType::I64 => Tensor::I64(ArrayD::zeros(s)),
            DType::Bool => Tensor::Bool(ArrayD::from_elem(s, false)),
            DType::F8E4M3 => Tensor::F8E4M3(ArrayD::zeros(s)),
            DType::F8E5M2 => Tensor::F8E5M2(ArrayD::zeros(s)),
            DType::F16 => Tensor::F16(ArrayD::from_elem(s, f16::ZERO)),
            DType::Bf16 => Tensor::Bf16(ArrayD::from_elem(s, bf16::ZERO)),
            DType::F64 => Tensor::F64(ArrayD::zeros(s)),
            DType::U16 => Tensor::U16(ArrayD::zeros(s)),
            DType::U32 => Tensor::U32(ArrayD::zeros(s)),
            DType::U64 => Tensor::U64(ArrayD::zeros(s)),
            DType::I4 => Tensor::I4(ArrayD::zeros(s)),
            DType::U4 => Tensor::U4(ArrayD::zeros(s)),
            DType::I2 => Tensor::I2(ArrayD::zeros(s)),
            DType::U2 => Tensor::U2(ArrayD::zeros(s)),
            DType::F4E2M1 => Tensor::F4E2M1(ArrayD::zeros(s)),
            DType::F8E4M3Fnuz => Tensor::F8E4M3Fnuz(ArrayD::zeros(s)),
            DType::F8E5M2Fnuz => Tensor::F8E5M2Fnuz(ArrayD::zeros(s)),
            DType::F8E8M0 => Tensor::F8E8M0(ArrayD::zeros(s)),
        }
    }

    /// Builds a tensor from f64 values converted to `dtype` as `as` casts do (4- and 2-bit
    /// integers wrap). FP8 and FP4 types are not supported here.
    pub fn from_f64s(dtype: DType, shape: &[usize], values: &[f64]) -> Option<Tensor> {
        if shape.iter().product::<usize>() != values.len() {
            return None;
        }
        let s = IxDyn(shape);
        fn v<T>(s: IxDyn, it: impl Iterator<Item = T>) -> ArrayD<T> {
            ArrayD::from_shape_vec(s, it.collect()).expect("length checked")
        }
        let it = values.iter().copied();
        Some(match dtype {
            DType::F32 => Tensor::F32(v(s, it.map(|x| x as f32))),
            DType::I8 => Tensor::I8(v(s, it.map(|x| x as i8))),
            DType::U8 => Tensor::U8(v(s, it.map(|x| x as u8))),
            DType::I16 => Tensor::I16(v(s, it.map(|x| x as i16))),
            DType::I32 => Tensor::I32(v(s, it.map(|x| x as i32))),
            DType::I64 => Tensor::I64(v(s, it.map(|x| x as i64))),
            DType::Bool => Tensor::Bool(v(s, it.map(|x| x != 0.0))),
            DType::F16 => Tensor::F16(v(s, it.map(f16::from_f64))),
            DType::Bf16 => Tensor::Bf16(v(s, it.map(bf16::from_f64))),
            DType::F64 => Tensor::F64(v(s, it)),
            DType::U16 => Tensor::U16(v(s, it.map(|x| x as u16))),
            DType::U32 => Tensor::U32(v(s, it.map(|x| x as u32))),
            DType::U64 => Tensor::U64(v(s, it.map(|x| x as u64))),
            DType::I4 => Tensor::I4(v(s, it.map(|x| dtype.wrap_int(x as i64) as i8))),
            DType::U4 => Tensor::U4(v(s, it.map(|x| dtype.wrap_int(x as i64) as u8))),
            DType::I2 => Tensor::I2(v(s, it.map(|x| dtype.wrap_int(x as i64) as i8))),
            DType::U2 => Tensor::U2(v(s, it.map(|x| dtype.wrap_int(x as i64) as u8))),
            DType::F8E4M3
            | DType::F8E5M2
            | DType::F4E2M1
            | DType::F8E4M3Fnuz
            | DType::F8E5M2Fnuz
            | DType::F8E8M0 => return None,
        })
    }

    /// A tensor of an FP8 or FP4 type from its codes (`None` for other types).
    pub fn from_codes(dtype: DType, codes: ArrayD<u8>) -> Option<Tensor> {
        Some(match dtype {
            DType::F8E4M3 => Tensor::F8E4M3(codes),
            DType::F8E5M2 => Tensor::F8E5M2(codes),
            DType::F4E2M1 => Tensor::F4E2M1(codes),
            DType::F8E4M3Fnuz => Tensor::F8E4M3Fnuz(codes),
            DType::F8E5M2Fnuz => Tensor::F8E5M2Fnuz(codes),
            DType::F8E8M0 => Tensor::F8E8M0(codes),
            _ => return None,
        })
    }

    /// Values as f64 in logical (row-major) order; FP8 and FP4 bits are returned
    /// unconverted.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self {
            Tensor::F32(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::I8(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::U8(a) | Tensor::F8E4M3(a) | Tensor::F8E5M2(a) => {
                a.iter().map(|&x| x as f64).collect()
            }
            Tensor::I16(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::I32(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::I64(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::Bool(a) => a.iter().map(|&x| x as u8 as f64).collect(),
            Tensor::F16(a) => a.iter().map(|&x| x.to_f64()).collect(),
            Tensor::Bf16(a) => a.iter().map(|&x| x.to_f64()).collect(),
            Tensor::F64(a) => a.iter().copied().collect(),
            Tensor::U16(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::U32(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::U64(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::I4(a) | Tensor::I2(a) => a.iter().map(|&x| x as f64).collect(),
            Tensor::U4(a)
            | Tensor::U2(a)
            | Tensor::F4E2M1(a)
            | Tensor::F8E4M3Fnuz(a)
            | Tensor::F8E5M2Fnuz(a)
            | Tensor::F8E8M0(a) => a.iter().map(|&x| x as f64).collect(),
        }
    }

    /// Integer values as i64 in logical order (for shapes, indices and axes); `None` for
    /// float data.
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match self {
            Tensor::I8(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U8(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::I16(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::I32(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::I64(a) => a.iter().copied().collect(),
            Tensor::Bool(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U16(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U32(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U64(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::I4(a) | Tensor::I2(a) => a.iter().map(|&x| x as i64).collect(),
            Tensor::U4(a) | Tensor::U2(a) => a.iter().map(|&x| x as i64).collect(),
            _ => return None,
        })
    }

    /// The f32 array, if this is f32 data.
    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Some(a),
            _ => None,
        }
    }

    /// How many values are NaN or infinite (0 for integer data).
    pub fn count_non_finite(&self) -> usize {
        match self {
            Tensor::F32(_) | Tensor::F16(_) | Tensor::Bf16(_) | Tensor::F64(_) => {
                self.to_f64_vec().iter().filter(|v| !v.is_finite()).count()
            }
            _ => 0,
        }
    }

    /// Same data with a new shape of equal element count (row-major order kept).
    pub fn reshaped(&self, shape: &[usize]) -> Option<Tensor> {
        if shape.iter().product::<usize>() != self.len() {
            return None;
        }
        Some(map_tensor_same!(self, a => {
            let v: Vec<_> = a.iter().cloned().collect();
            ArrayD::from_shape_vec(IxDyn(shape), v).expect("element count checked")
        }))
    }

    /// A deterministic 64-bit FNV-1a hash of dtype, shape and values (used to elide large
    /// constants in printed IR).
    pub fn content_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                h ^= b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
        };
        eat(self.dtype().name().as_bytes());
        for &d in self.shape() {
            eat(&(d as u64).to_le_bytes());
        }
        match self {
            Tensor::F32(a) => a.iter().for_each(|x| eat(&x.to_bits().to_le_bytes())),
            _ => self
                .to_f64_vec()
                .iter()
                .for_each(|x| eat(&x.to_bits().to_le_bytes())),
        }
        h
    }
}
