//! The activation arena: one byte buffer holding every tensor, little-endian.

use crate::npu::program::TensorDesc;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{DType, Tensor};
use nnopt_compiler::{Error, Result};

/// The NPU's activation memory.
pub struct Arena {
    bytes: Vec<u8>,
}

impl Arena {
    /// A zeroed arena of `size` bytes.
    pub fn new(size: usize) -> Self {
        Arena {
            bytes: vec![0; size],
        }
    }

    /// The bytes of `t`, checked against the arena size and the tensor's type.
    fn slice(&self, t: &TensorDesc) -> Result<&[u8]> {
        check(t, self.bytes.len())?;
        Ok(&self.bytes[t.range()])
    }

    fn slice_mut(&mut self, t: &TensorDesc) -> Result<&mut [u8]> {
        check(t, self.bytes.len())?;
        Ok(&mut self.bytes[t.range()])
    }

    /// Integer elements of `t` (i8, u8, i16 or i32) widened to i32.
    pub fn ints(&self, t: &TensorDesc) -> Result<Vec<i32>> {
        let b = self.slice(t)?;
        Ok(match t.dtype {
            DType::I8 => b.iter().map(|&v| v as i8 as i32).collect(),
            DType::U8 => b.iter().map(|&v| v as i32).collect(),
            DType::I16 => b
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i32)
                .collect(),
            DType::I32 => b
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            other => {
                return Err(Error::new(format!(
                    "tensor '{}': the NPU computes on integers, not {other}",
                    t.name
                )))
            }
        })
    }

    /// Stores integer values (already in the element type's range) into `t`.
    pub fn set_ints(&mut self, t: &TensorDesc, v: &[i32]) -> Result<()> {
        if v.len() != t.num_elements() {
            return Err(Error::new(format!(
                "tensor '{}': {} values for {} elements",
                t.name,
                v.len(),
                t.num_elements()
            )));
        }
        let dtype = t.dtype;
        let b = self.slice_mut(t)?;
        match dtype {
            DType::I8 | DType::U8 => b.iter_mut().zip(v).for_each(|(o, &x)| *o = x as u8),
            DType::I16 => b
                .chunks_exact_mut(2)
                .zip(v)
                .for_each(|(o, &x)| o.copy_from_slice(&(x as i16).to_le_bytes())),
            DType::I32 => b
                .chunks_exact_mut(4)
                .zip(v)
                .for_each(|(o, &x)| o.copy_from_slice(&x.to_le_bytes())),
            other => {
                return Err(Error::new(format!(
                    "tensor '{}': the NPU computes on integers, not {other}",
                    t.name
                )))
            }
        }
        Ok(())
    }

    /// Elements of an f32 tensor.
    pub fn f32s(&self, t: &TensorDesc) -> Result<Vec<f32>> {
        if t.dtype != DType::F32 {
            return Err(Error::new(format!(
                "tensor '{}' is {}, f32 expected",
                t.name, t.dtype
            )));
        }
        Ok(self
            .slice(t)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// Stores f32 values into an f32 tensor.
    pub fn set_f32s(&mut self, t: &TensorDesc, v: &[f32]) -> Result<()> {
        if t.dtype != DType::F32 {
            return Err(Error::new(format!(
                "tensor '{}' is {}, f32 expected",
                t.name, t.dtype
            )));
        }
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.set_bytes(t, &bytes)
    }

    /// The raw bytes of `t`.
    pub fn bytes(&self, t: &TensorDesc) -> Result<&[u8]> {
        self.slice(t)
    }

    /// Overwrites the raw bytes of `t`.
    pub fn set_bytes(&mut self, t: &TensorDesc, v: &[u8]) -> Result<()> {
        let b = self.slice_mut(t)?;
        if b.len() != v.len() {
            return Err(Error::new(format!("tensor '{}': size mismatch", t.name)));
        }
        b.copy_from_slice(v);
        Ok(())
    }

    /// Reads `t` as a tensor of its declared type and shape.
    pub fn read(&self, t: &TensorDesc) -> Result<Tensor> {
        let b = self.slice(t)?;
        fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
            ArrayD::from_shape_vec(IxDyn(shape), v).expect("size checked against the shape")
        }
        let s = &t.shape;
        Ok(match t.dtype {
            DType::F32 => Tensor::F32(arr(
                s,
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )),
            DType::I64 => Tensor::I64(arr(
                s,
                b.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )),
            DType::Bool => Tensor::Bool(arr(s, b.iter().map(|&v| v != 0).collect())),
            DType::F8E4M3 => Tensor::F8E4M3(arr(s, b.to_vec())),
            DType::F8E5M2 => Tensor::F8E5M2(arr(s, b.to_vec())),
            DType::I8 => Tensor::I8(arr(s, b.iter().map(|&v| v as i8).collect())),
            DType::U8 => Tensor::U8(arr(s, b.to_vec())),
            DType::I16 => Tensor::I16(arr(
                s,
                b.chunks_exact(2)
                    .map(|c| i16::from_le_bytes([c[0], c[1]]))
                    .collect(),
            )),
            DType::I32 => Tensor::I32(arr(
                s,
                b.chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            )),
            _ => {
                return Err(Error::new(format!(
                    "tensor '{}': a program holds no {} tensors",
                    t.name, t.dtype
                )))
            }
        })
    }

    /// Writes a tensor of `t`'s type and shape into the arena.
    pub fn write(&mut self, t: &TensorDesc, v: &Tensor) -> Result<()> {
        if v.dtype() != t.dtype || v.shape() != t.shape.as_slice() {
            return Err(Error::new(format!(
                "tensor '{}' is {}{:?}, got {}{:?}",
                t.name,
                t.dtype,
                t.shape,
                v.dtype(),
                v.shape()
            )));
        }
        self.set_bytes(t, &v.to_le_bytes())
    }
}

/// Checks that `t` fits the arena and that its size matches its type.
fn check(t: &TensorDesc, arena: usize) -> Result<()> {
    if t.size != t.num_elements() * t.dtype.size_bytes() || t.offset + t.size > arena {
        return Err(Error::new(format!(
            "tensor '{}' ({} bytes at {}) does not fit its type {}{:?} or the {arena}-byte arena",
            t.name, t.size, t.offset, t.dtype, t.shape
        )));
    }
    Ok(())
}
