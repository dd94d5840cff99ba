//! Element types of IR tensors.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    F32,
    I8,
    U8,
    I16,
    I32,
    I64,
    Bool,
    /// FP8 with 4 exponent and 3 mantissa bits ("fn" variant), stored as raw bits.
    #[serde(rename = "f8e4m3")]
    F8E4M3,
    /// FP8 with 5 exponent and 2 mantissa bits (IEEE-like), stored as raw bits.
    #[serde(rename = "f8e5m2")]
    F8E5M2,
    /// IEEE half precision. Kernels that compute compute in f32 and round back.
    F16,
    /// bfloat16 (8 exponent bits, 7 mantissa bits). Computed in f32 like [`DType::F16`].
    Bf16,
    /// IEEE double precision. Computed in f32 where a kernel has no f64 path.
    F64,
    U16,
    U32,
    U64,
    /// 4-bit two's-complement integer, one value per byte in memory (ONNX packs two per
    /// byte in files).
    I4,
    /// 4-bit unsigned integer, one value per byte in memory.
    U4,
    /// 2-bit two's-complement integer, one value per byte in memory.
    I2,
    /// 2-bit unsigned integer, one value per byte in memory.
    U2,
    /// FP4 with 2 exponent bits and 1 mantissa bit (no infinities or NaN; largest value
    /// 6), one code per byte in memory. Storage only: kernels that compute refuse it.
    F4E2M1,
    /// FP8 E4M3 "fnuz" (bias 8, no infinities, one NaN `0x80`, no negative zero), raw bits.
    #[serde(rename = "f8e4m3fnuz")]
    F8E4M3Fnuz,
    /// FP8 E5M2 "fnuz" (bias 16, no infinities, one NaN `0x80`, no negative zero), raw bits.
    #[serde(rename = "f8e5m2fnuz")]
    F8E5M2Fnuz,
    /// FP8 E8M0: an unsigned power of two `2^(code - 127)` (the scale type of block
    /// formats); `0xff` is NaN. Raw bits.
    #[serde(rename = "f8e8m0")]
    F8E8M0,
}

impl DType {
    /// Every dtype, in a fixed order.
    pub const ALL: [DType; 23] = [
        DType::F32,
        DType::I8,
        DType::U8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::Bool,
        DType::F8E4M3,
        DType::F8E5M2,
        DType::F16,
        DType::Bf16,
        DType::F64,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::I4,
        DType::U4,
        DType::I2,
        DType::U2,
        DType::F4E2M1,
        DType::F8E4M3Fnuz,
        DType::F8E5M2Fnuz,
        DType::F8E8M0,
    ];

    /// Short name used by the text form (`f32`, `i8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::Bool => "bool",
            DType::F8E4M3 => "f8e4m3",
            DType::F8E5M2 => "f8e5m2",
            DType::F16 => "f16",
            DType::Bf16 => "bf16",
            DType::F64 => "f64",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::I4 => "i4",
            DType::U4 => "u4",
            DType::I2 => "i2",
            DType::U2 => "u2",
            DType::F4E2M1 => "f4e2m1",
            DType::F8E4M3Fnuz => "f8e4m3fnuz",
            DType::F8E5M2Fnuz => "f8e5m2fnuz",
            DType::F8E8M0 => "f8e8m0",
        }
    }

    /// Size of one element in memory in bytes (sub-byte types take a byte each).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool | DType::F8E4M3 | DType::F8E5M2 => 1,
            DType::I4 | DType::U4 | DType::I2 | DType::U2 | DType::F4E2M1 => 1,
            DType::F8E4M3Fnuz | DType::F8E5M2Fnuz | DType::F8E8M0 => 1,
            DType::I16 | DType::F16 | DType::Bf16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::I64 | DType::F64 | DType::U64 => 8,
        }
    }

    /// Whether values of this type are integers that can carry quantization parameters.
    pub fn is_quantizable_int(self) -> bool {
        matches!(self, DType::I8 | DType::U8 | DType::I16 | DType::I32)
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            DType::F32 | DType::F8E4M3 | DType::F8E5M2 | DType::F16 | DType::Bf16 | DType::F64
        ) || self.is_storage_float()
    }

    /// Whether this is a float type that is only stored and converted (no kernel computes
    /// on it): FP4, the "fnuz" FP8 types and E8M0.
    pub fn is_storage_float(self) -> bool {
        matches!(
            self,
            DType::F4E2M1 | DType::F8E4M3Fnuz | DType::F8E5M2Fnuz | DType::F8E8M0
        )
    }

    /// Whether this integer type can hold QDQ-quantized values (ONNX QuantizeLinear's
    /// integer targets): 2- to 32-bit integers but u32.
    pub fn is_qdq_int(self) -> bool {
        self.is_quantizable_int() || self.is_sub_byte_int() || self == DType::U16
    }

    /// Whether this float type can hold QDQ-quantized values: the FP8 types and FP4.
    pub fn is_qdq_float(self) -> bool {
        matches!(
            self,
            DType::F8E4M3 | DType::F8E5M2 | DType::F8E4M3Fnuz | DType::F8E5M2Fnuz | DType::F4E2M1
        )
    }

    /// Whether this is a 4- or 2-bit integer type.
    pub fn is_sub_byte_int(self) -> bool {
        matches!(self, DType::I4 | DType::U4 | DType::I2 | DType::U2)
    }

    /// Whether this float type is computed in f32 by kernels without a native path
    /// (half, bfloat16 and double precision).
    pub fn is_widened_float(self) -> bool {
        matches!(self, DType::F16 | DType::Bf16 | DType::F64)
    }

    /// `v` wrapped into this integer type's range (two's complement), as `as` casts do
    /// for the byte-sized types; other types return `v`.
    pub fn wrap_int(self, v: i64) -> i64 {
        let bits = match self {
            DType::I4 | DType::U4 => 4,
            DType::I2 | DType::U2 => 2,
            _ => return v,
        };
        let low = v & ((1 << bits) - 1);
        match self {
            DType::I4 | DType::I2 if low >> (bits - 1) == 1 => low - (1 << bits),
            _ => low,
        }
    }

    /// Inclusive value range of an integer type, as i64 (u64 capped at `i64::MAX`).
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            DType::I8 => Some((i8::MIN as i64, i8::MAX as i64)),
            DType::U8 => Some((0, u8::MAX as i64)),
            DType::I16 => Some((i16::MIN as i64, i16::MAX as i64)),
            DType::I32 => Some((i32::MIN as i64, i32::MAX as i64)),
            DType::I64 => Some((i64::MIN, i64::MAX)),
            DType::U16 => Some((0, u16::MAX as i64)),
            DType::U32 => Some((0, u32::MAX as i64)),
            DType::U64 => Some((0, i64::MAX)),
            DType::Bool => Some((0, 1)),
            DType::I4 => Some((-8, 7)),
            DType::U4 => Some((0, 15)),
            DType::I2 => Some((-2, 1)),
            DType::U2 => Some((0, 3)),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DType::ALL
            .iter()
            .copied()
            .find(|d| d.name() == s)
            .ok_or_else(|| format!("unknown dtype '{s}'"))
    }
}
