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
}

impl DType {
    /// Every dtype, in a fixed order.
    pub const ALL: [DType; 15] = [
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
        }
    }

    /// Size of one element in bytes.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool | DType::F8E4M3 | DType::F8E5M2 => 1,
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
        )
    }

    /// Whether this float type is computed in f32 by kernels without a native path
    /// (half, bfloat16 and double precision).
    pub fn is_widened_float(self) -> bool {
        matches!(self, DType::F16 | DType::Bf16 | DType::F64)
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
