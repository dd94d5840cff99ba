//! A bounds-checked FlatBuffer reader: tables through their vtables, vectors, strings and
//! inline structs, every offset checked against the buffer so that a hostile file is an
//! error, never an out-of-bounds read.

use crate::error::{Error, Result};

const OUT_OF_BOUNDS: Error = Error::malformed("FlatBuffer offset out of bounds");

fn read<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N]> {
    let end = pos.checked_add(N).ok_or(OUT_OF_BOUNDS)?;
    let b = buf.get(pos..end).ok_or(OUT_OF_BOUNDS)?;
    let mut out = [0u8; N];
    out.copy_from_slice(b);
    Ok(out)
}

fn u32_at(buf: &[u8], pos: usize) -> Result<u32> {
    read::<4>(buf, pos).map(u32::from_le_bytes)
}

/// Follows the `uoffset` stored at `pos` to the position it points to.
fn follow(buf: &[u8], pos: usize) -> Result<usize> {
    let off = u32_at(buf, pos)? as usize;
    pos.checked_add(off)
        .filter(|&p| p < buf.len())
        .ok_or(OUT_OF_BOUNDS)
}

/// A table: its position and its vtable's fields.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vtable_len: usize,
    table_len: usize,
}

impl<'a> Table<'a> {
    /// The root table of a FlatBuffer.
    pub fn root(buf: &'a [u8]) -> Result<Self> {
        Table::at(buf, follow(buf, 0)?)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Self> {
        let soffset = i32::from_le_bytes(read::<4>(buf, pos)?);
        let vtable = (pos as i64)
            .checked_sub(i64::from(soffset))
            .filter(|&v| v >= 0)
            .ok_or(OUT_OF_BOUNDS)? as usize;
        let vtable_len = usize::from(u16::from_le_bytes(read::<2>(buf, vtable)?));
        let table_len = usize::from(u16::from_le_bytes(read::<2>(buf, vtable + 2)?));
        if vtable_len < 4 || vtable_len % 2 != 0 || vtable + vtable_len > buf.len() {
            return Err(Error::malformed("FlatBuffer vtable out of bounds"));
        }
        if pos.checked_add(table_len).is_none_or(|e| e > buf.len()) || table_len < 4 {
            return Err(Error::malformed("FlatBuffer table out of bounds"));
        }
        Ok(Table {
            buf,
            pos,
            vtable,
            vtable_len,
            table_len,
        })
    }

    /// The position of field `slot` (0-based, in declaration order) and its size, if set.
    fn field(&self, slot: usize, size: usize) -> Result<Option<usize>> {
        let entry = 4 + 2 * slot;
        if entry + 2 > self.vtable_len {
            return Ok(None);
        }
        let off = usize::from(u16::from_le_bytes(read::<2>(
            self.buf,
            self.vtable + entry,
        )?));
        if off == 0 {
            return Ok(None);
        }
        if off + size > self.table_len {
            return Err(Error::malformed("FlatBuffer field outside its table"));
        }
        Ok(Some(self.pos + off))
    }

    fn scalar<const N: usize>(&self, slot: usize) -> Result<Option<[u8; N]>> {
        match self.field(slot, N)? {
            Some(p) => read::<N>(self.buf, p).map(Some),
            None => Ok(None),
        }
    }

    pub fn u8(&self, slot: usize, default: u8) -> Result<u8> {
        Ok(self.scalar::<1>(slot)?.map_or(default, |b| b[0]))
    }

    pub fn bool(&self, slot: usize) -> Result<bool> {
        Ok(self.u8(slot, 0)? != 0)
    }

    pub fn u32(&self, slot: usize, default: u32) -> Result<u32> {
        Ok(self.scalar(slot)?.map_or(default, u32::from_le_bytes))
    }

    pub fn i32(&self, slot: usize, default: i32) -> Result<i32> {
        Ok(self.scalar(slot)?.map_or(default, i32::from_le_bytes))
    }

    pub fn u64(&self, slot: usize, default: u64) -> Result<u64> {
        Ok(self.scalar(slot)?.map_or(default, u64::from_le_bytes))
    }

    pub fn f32(&self, slot: usize, default: f32) -> Result<f32> {
        Ok(self.scalar(slot)?.map_or(default, f32::from_le_bytes))
    }

    /// The bytes of an inline struct of `size` bytes, if set.
    pub fn inline_struct(&self, slot: usize, size: usize) -> Result<Option<&'a [u8]>> {
        Ok(self.field(slot, size)?.map(|p| &self.buf[p..p + size]))
    }

    fn offset_target(&self, slot: usize) -> Result<Option<usize>> {
        match self.field(slot, 4)? {
            Some(p) => follow(self.buf, p).map(Some),
            None => Ok(None),
        }
    }

    /// A sub-table, if set.
    pub fn table(&self, slot: usize) -> Result<Option<Table<'a>>> {
        match self.offset_target(slot)? {
            Some(p) => Table::at(self.buf, p).map(Some),
            None => Ok(None),
        }
    }

    /// A vector of `elem`-byte elements (scalars, structs or offsets); empty if unset.
    pub fn vector(&self, slot: usize, elem: usize) -> Result<Vector<'a>> {
        let Some(p) = self.offset_target(slot)? else {
            return Ok(Vector::empty(self.buf));
        };
        let len = u32_at(self.buf, p)? as usize;
        let start = p + 4;
        let bytes = len.checked_mul(elem).ok_or(OUT_OF_BOUNDS)?;
        if start.checked_add(bytes).is_none_or(|e| e > self.buf.len()) {
            return Err(OUT_OF_BOUNDS);
        }
        Ok(Vector {
            buf: self.buf,
            start,
            len,
            elem,
        })
    }

    /// A string (UTF-8 checked); empty if unset.
    pub fn str(&self, slot: usize) -> Result<&'a str> {
        let v = self.vector(slot, 1)?;
        core::str::from_utf8(v.bytes()).map_err(|_| Error::malformed("string is not UTF-8"))
    }
}

/// A vector inside the buffer.
#[derive(Clone, Copy)]
pub struct Vector<'a> {
    buf: &'a [u8],
    start: usize,
    len: usize,
    elem: usize,
}

impl<'a> Vector<'a> {
    fn empty(buf: &'a [u8]) -> Self {
        Vector {
            buf,
            start: 0,
            len: 0,
            elem: 1,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// All elements' bytes.
    pub fn bytes(&self) -> &'a [u8] {
        &self.buf[self.start..self.start + self.len * self.elem]
    }

    fn at(&self, i: usize) -> Result<usize> {
        if i >= self.len {
            return Err(Error::malformed("FlatBuffer vector index out of range"));
        }
        Ok(self.start + i * self.elem)
    }

    pub fn u32(&self, i: usize) -> Result<u32> {
        u32_at(self.buf, self.at(i)?)
    }

    pub fn i16(&self, i: usize) -> Result<i16> {
        read::<2>(self.buf, self.at(i)?).map(i16::from_le_bytes)
    }

    pub fn i64(&self, i: usize) -> Result<i64> {
        read::<8>(self.buf, self.at(i)?).map(i64::from_le_bytes)
    }

    pub fn f32(&self, i: usize) -> Result<f32> {
        read::<4>(self.buf, self.at(i)?).map(f32::from_le_bytes)
    }

    /// Element `i` of a vector of tables.
    pub fn table(&self, i: usize) -> Result<Table<'a>> {
        Table::at(self.buf, follow(self.buf, self.at(i)?)?)
    }
}
