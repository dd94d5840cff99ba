//! Decoders of the adaptive methods that binarize a block by what its bytes mean:
//! - `ADAPTIVE_INT8`: int8 weights, each a magnitude and a sign;
//! - `ADAPTIVE_LEB128`: LEB128 numbers of at most 32 bits, each its value;
//! - `ADAPTIVE_REQUANT`: 5-byte records (i32 LE multiplier, i8 shift), each the
//!   multiplier's magnitude (with its count of trailing zero bits) and sign, then the
//!   shift.

use super::range::{Bit, Decoder};
use super::uint::{Shape, UIntContexts};
use crate::{Error, Result};

/// Bytes of a requantization record.
pub const RECORD: usize = 5;

const INT8: Shape = Shape {
    max_bits: 8,
    tree_depth: 3,
    adaptive_bits: 3,
};
const LEB: Shape = Shape {
    max_bits: 32,
    tree_depth: 2,
    adaptive_bits: 2,
};
const MULTIPLIER: Shape = Shape {
    max_bits: 32,
    tree_depth: 4,
    adaptive_bits: 6,
};
const TRAILING_ZEROS: Shape = Shape {
    max_bits: 5,
    tree_depth: 2,
    adaptive_bits: 5,
};
const SHIFT: Shape = Shape {
    max_bits: 8,
    tree_depth: 3,
    adaptive_bits: 8,
};

type Int8Contexts = SignedContexts<{ INT8.tree_len() }, { INT8.low_len() }, { INT8.length_len() }>;
type LebContexts = UIntContexts<{ LEB.tree_len() }, { LEB.low_len() }, { LEB.length_len() }>;

/// Contexts of a signed number: its magnitude and its sign.
#[derive(Clone, Copy, Debug)]
struct SignedContexts<const TREE: usize, const LOW: usize, const LENGTH: usize> {
    magnitude: UIntContexts<TREE, LOW, LENGTH>,
    sign: Bit,
}

impl<const TREE: usize, const LOW: usize, const LENGTH: usize> SignedContexts<TREE, LOW, LENGTH> {
    const fn new(shape: Shape) -> Self {
        SignedContexts {
            magnitude: UIntContexts::new(shape),
            sign: Bit::NEW,
        }
    }

    fn decode(&mut self, dec: &mut Decoder) -> Result<i64> {
        let m = i64::from(self.magnitude.decode(dec)?);
        Ok(if m != 0 && dec.bit(&mut self.sign)? {
            -m
        } else {
            m
        })
    }
}

/// Decodes `out.len()` int8 values.
pub fn decode_int8(stream: &[u8], out: &mut [u8]) -> Result<()> {
    let mut ctx = const { Int8Contexts::new(INT8) };
    let mut dec = Decoder::new(stream);
    for dst in out {
        let v = i8::try_from(ctx.decode(&mut dec)?)
            .map_err(|_| Error::malformed("weight out of int8 range in compressed block"))?;
        *dst = v as u8;
    }
    dec.finish()
}

/// Decodes the `out.len()` bytes of LEB128 numbers.
pub fn decode_leb128(stream: &[u8], out: &mut [u8]) -> Result<()> {
    let mut ctx = const { LebContexts::new(LEB) };
    let mut dec = Decoder::new(stream);
    let mut pos = 0;
    // Every number writes a byte at least.
    while pos < out.len() {
        let mut v = ctx.decode(&mut dec)?;
        loop {
            let dst = out.get_mut(pos).ok_or(Error::malformed(
                "compressed numbers decode to more than the block's bytes",
            ))?;
            pos += 1;
            *dst = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                break;
            }
            *dst |= 0x80;
        }
    }
    dec.finish()
}

/// Contexts of requantization records.
#[derive(Clone, Copy, Debug)]
struct RequantContexts {
    magnitude: UIntContexts<
        { MULTIPLIER.tree_len() },
        { MULTIPLIER.low_len() },
        { MULTIPLIER.length_len() },
    >,
    trailing_zeros: UIntContexts<
        { TRAILING_ZEROS.tree_len() },
        { TRAILING_ZEROS.low_len() },
        { TRAILING_ZEROS.length_len() },
    >,
    sign: Bit,
    shift: SignedContexts<{ SHIFT.tree_len() }, { SHIFT.low_len() }, { SHIFT.length_len() }>,
}

impl RequantContexts {
    const fn new() -> Self {
        RequantContexts {
            magnitude: UIntContexts::new(MULTIPLIER),
            trailing_zeros: UIntContexts::new(TRAILING_ZEROS),
            sign: Bit::NEW,
            shift: SignedContexts::new(SHIFT),
        }
    }

    /// Decodes a record: its multiplier and shift.
    fn decode(&mut self, dec: &mut Decoder) -> Result<(i32, i8)> {
        let magnitude = self
            .magnitude
            .decode_trailing(dec, &mut self.trailing_zeros)?;
        let m = if magnitude != 0 && dec.bit(&mut self.sign)? {
            -i64::from(magnitude)
        } else {
            i64::from(magnitude)
        };
        let m = i32::try_from(m)
            .map_err(|_| Error::malformed("multiplier out of range in compressed block"))?;
        let shift = i8::try_from(self.shift.decode(dec)?)
            .map_err(|_| Error::malformed("shift out of range in compressed block"))?;
        Ok((m, shift))
    }
}

/// Decodes the `out.len()` bytes of requantization records.
pub fn decode_requant(stream: &[u8], out: &mut [u8]) -> Result<()> {
    if !out.len().is_multiple_of(RECORD) {
        return Err(Error::malformed(
            "requantization block is not a whole number of 5-byte records",
        ));
    }
    let mut ctx = const { RequantContexts::new() };
    let mut dec = Decoder::new(stream);
    for record in out.chunks_exact_mut(RECORD) {
        let (m, shift) = ctx.decode(&mut dec)?;
        record[..4].copy_from_slice(&m.to_le_bytes());
        record[4] = shift as u8;
    }
    dec.finish()
}
#[cfg(test)]
mod tests {
    use core::mem::size_of;

    /// The bounds in the module doc of `decode`.
    #[test]
    fn contexts_fit_the_documented_stack() {
        assert!(size_of::<super::RequantContexts>() <= 2500);
        assert!(size_of::<super::LebContexts>() <= 750);
        assert!(size_of::<super::Int8Contexts>() <= 300);
    }
}
