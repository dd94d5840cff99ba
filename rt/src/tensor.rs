//! Integer elements of arena tensors, read and written by index in their element type
//! (i8, u8, i16, i32; little-endian).

use crate::schema::DType;

/// The elements of a tensor, read as i32.
#[derive(Clone, Copy)]
pub struct Elems<'b> {
    pub bytes: &'b [u8],
    pub dtype: DType,
}

impl Elems<'_> {
    #[inline(always)]
    pub fn get(&self, i: usize) -> i32 {
        let b = self.bytes;
        match self.dtype {
            DType::I8 => b[i] as i8 as i32,
            DType::I16 => i16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as i32,
            DType::I32 => i32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]),
            _ => b[i] as i32,
        }
    }
}

impl crate::kernels::Ints for Elems<'_> {
    #[inline(always)]
    fn at(&self, i: usize) -> i32 {
        self.get(i)
    }
}

/// The elements of an output tensor, written from i32 values in the type's range.
pub struct ElemsMut<'b> {
    pub bytes: &'b mut [u8],
    pub dtype: DType,
}

impl ElemsMut<'_> {
    #[inline]
    pub fn set(&mut self, i: usize, v: i32) {
        match self.dtype {
            DType::I16 => self.bytes[2 * i..2 * i + 2].copy_from_slice(&(v as i16).to_le_bytes()),
            DType::I32 => self.bytes[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes()),
            _ => self.bytes[i] = v as u8,
        }
    }

    /// Writes `v` at elements `base`, `base + stride`, ...
    #[inline(always)]
    pub fn set_run(&mut self, base: usize, stride: usize, v: &[i32]) {
        if stride == 1 && self.dtype.size() == 1 {
            for (d, &x) in self.bytes[base..base + v.len()].iter_mut().zip(v) {
                *d = x as u8;
            }
        } else {
            for (i, &x) in v.iter().enumerate() {
                self.set(base + i * stride, x);
            }
        }
    }
}

/// Row-major strides of `dims`, padded on the left to `rank` with broadcast (zero) strides
/// for size-1 axes: the element offset of each output axis step.
pub fn broadcast_strides(
    dims: &[usize],
    out: &[usize],
) -> Option<[usize; crate::schema::MAX_RANK]> {
    let r = out.len();
    if dims.len() > r {
        return None;
    }
    let mut st = [0usize; crate::schema::MAX_RANK];
    let mut acc = 1usize;
    for i in (0..r).rev() {
        let d = match i.checked_sub(r - dims.len()) {
            Some(j) => dims[j],
            None => 1,
        };
        if d != 1 && d != out[i] {
            return None;
        }
        st[i] = if d == 1 { 0 } else { acc };
        acc = acc.checked_mul(d)?;
    }
    Some(st)
}

/// An odometer over a row-major index space that keeps linear offsets into up to two
/// strided operands.
pub struct Odometer<'s> {
    dims: &'s [usize],
    idx: [usize; crate::schema::MAX_RANK],
    pub offsets: [usize; 2],
    strides: [[usize; crate::schema::MAX_RANK]; 2],
}

impl<'s> Odometer<'s> {
    pub fn new(dims: &'s [usize], strides: [[usize; crate::schema::MAX_RANK]; 2]) -> Self {
        Odometer {
            dims,
            idx: [0; crate::schema::MAX_RANK],
            offsets: [0, 0],
            strides,
        }
    }

    /// The current multi-index.
    pub fn index(&self) -> &[usize] {
        &self.idx[..self.dims.len()]
    }

    /// Steps to the next index in row-major order.
    pub fn step(&mut self) {
        for d in (0..self.dims.len()).rev() {
            self.idx[d] += 1;
            for k in 0..2 {
                self.offsets[k] += self.strides[k][d];
            }
            if self.idx[d] < self.dims[d] {
                return;
            }
            for k in 0..2 {
                self.offsets[k] -= self.strides[k][d] * self.idx[d];
            }
            self.idx[d] = 0;
        }
    }
}
