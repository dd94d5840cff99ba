//! The `.npub` FlatBuffer schema (`schemas/npu.fbs`) as plain, copyable values read
//! through [`crate::flatbuf`]: element types, shapes, tensors, IO bindings, weight blocks
//! and the integer commands this runtime executes. Field numbers are the schema's
//! declaration order.

use crate::error::{Error, ErrorKind, Result};
use crate::flatbuf::{Table, Vector};

/// Largest tensor rank the runtime handles.
pub const MAX_RANK: usize = 8;

/// Element types of the schema's `DType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DType {
    F32 = 0,
    I8 = 1,
    U8 = 2,
    I16 = 3,
    I32 = 4,
    I64 = 5,
    Bool = 6,
    F8E4M3 = 7,
    F8E5M2 = 8,
}

impl DType {
    pub(crate) fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::U8,
            3 => DType::I16,
            4 => DType::I32,
            5 => DType::I64,
            6 => DType::Bool,
            7 => DType::F8E4M3,
            8 => DType::F8E5M2,
            _ => return Err(Error::malformed("unknown element type")),
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I64 => 8,
            DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool | DType::F8E4M3 | DType::F8E5M2 => 1,
        }
    }

    /// The inclusive range of an integer type the NPU computes on (i8, u8, i16, i32).
    pub fn int_range(self) -> Option<(i32, i32)> {
        match self {
            DType::I8 => Some((-128, 127)),
            DType::U8 => Some((0, 255)),
            DType::I16 => Some((-32768, 32767)),
            DType::I32 => Some((i32::MIN, i32::MAX)),
            _ => None,
        }
    }
}

/// A tensor shape of at most [`MAX_RANK`] dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: usize,
}

impl Shape {
    pub(crate) fn read(v: Vector<'_>) -> Result<Self> {
        if v.len() > MAX_RANK {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "tensor rank above the runtime's limit of 8",
            ));
        }
        let mut dims = [0usize; MAX_RANK];
        for (i, d) in dims.iter_mut().enumerate().take(v.len()) {
            *d = v.u32(i)? as usize;
        }
        Ok(Shape {
            dims,
            rank: v.len(),
        })
    }

    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of elements, or `None` on overflow.
    pub fn elements(&self) -> Option<usize> {
        self.dims()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }
}

/// An arena tensor.
#[derive(Clone, Copy, Debug)]
pub struct TensorDesc {
    pub dtype: DType,
    pub shape: Shape,
    /// Per-tensor scale and zero point, if the tensor has exactly one of each.
    pub quant: Option<(f32, i64)>,
    pub offset: usize,
    pub size: usize,
}

impl TensorDesc {
    pub fn read(t: Table<'_>) -> Result<Self> {
        let quant = match t.table(3)? {
            Some(q) => {
                let (s, z) = (q.vector(0, 4)?, q.vector(1, 8)?);
                match (s.len(), z.len()) {
                    (1, 1) => Some((s.f32(0)?, z.i64(0)?)),
                    _ => None,
                }
            }
            None => None,
        };
        Ok(TensorDesc {
            dtype: DType::from_u8(t.u8(1, 0)?)?,
            shape: Shape::read(t.vector(2, 4)?)?,
            quant,
            offset: t.u32(4, 0)? as usize,
            size: t.u32(5, 0)? as usize,
        })
    }

    /// The tensor's byte range in the arena.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.size
    }

    pub fn elements(&self) -> usize {
        self.shape.elements().unwrap_or(0)
    }
}

/// Conversion at an IO binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoConversion {
    None,
    QuantizeHalfEven,
    QuantizeTflite,
    Dequantize,
}

/// A graph input or output.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    pub name: &'a str,
    pub tensor: usize,
    /// What the caller passes or receives.
    pub dtype: DType,
    pub shape: Shape,
    pub conversion: IoConversion,
}

impl<'a> Binding<'a> {
    pub fn read(t: Table<'a>) -> Result<Self> {
        Ok(Binding {
            name: t.str(0)?,
            tensor: t.u32(1, 0)? as usize,
            dtype: DType::from_u8(t.u8(2, 0)?)?,
            shape: Shape::read(t.vector(3, 4)?)?,
            conversion: match t.u8(4, 0)? {
                0 => IoConversion::None,
                1 => IoConversion::QuantizeHalfEven,
                2 => IoConversion::QuantizeTflite,
                3 => IoConversion::Dequantize,
                _ => return Err(Error::malformed("unknown IO conversion")),
            },
        })
    }
}

/// One compressed part of a weight block and its decoded length.
#[derive(Clone, Copy)]
pub struct Part<'a> {
    pub coded: &'a [u8],
    pub len: usize,
}

impl<'a> Part<'a> {
    /// The bytes themselves when the block is stored uncompressed.
    pub fn stored(&self) -> Option<&'a [u8]> {
        match self.coded.split_first() {
            Some((0, body)) if body.len() == self.len => Some(body),
            _ => None,
        }
    }
}

/// A weight block: int8 weights, per-channel zero points and biases (zigzag LEB128) and
/// requantization records, each compressed.
#[derive(Clone, Copy)]
pub struct WeightBlock<'a> {
    pub weights: Part<'a>,
    pub zero_points: Part<'a>,
    pub bias: Part<'a>,
    pub requant: Part<'a>,
    /// Output channels (requantization records).
    pub channels: usize,
}

/// Bytes of a requantization record.
pub const REQUANT_RECORD: usize = 5;

impl<'a> WeightBlock<'a> {
    pub fn read(t: Table<'a>) -> Result<Self> {
        if t.u8(8, 1)? != DType::I8 as u8 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "FP8 weights: the runtime runs integer programs",
            ));
        }
        let part = |data: usize, len: usize| -> Result<Part<'a>> {
            Ok(Part {
                coded: t.vector(data, 1)?.bytes(),
                len: t.u32(len, 0)? as usize,
            })
        };
        let requant = part(6, 7)?;
        if requant.len == 0 || requant.len % REQUANT_RECORD != 0 {
            return Err(Error::malformed(
                "weight block without whole requantization records",
            ));
        }
        let channels = requant.len / REQUANT_RECORD;
        let (zero_points, bias) = (part(2, 3)?, part(4, 5)?);
        // One to five LEB128 bytes per channel.
        for p in [zero_points, bias] {
            if p.len < channels || p.len > 5 * channels {
                return Err(Error::malformed(
                    "weight block parameters do not match its channels",
                ));
            }
        }
        Ok(WeightBlock {
            weights: part(0, 1)?,
            zero_points,
            bias,
            requant,
            channels,
        })
    }
}
