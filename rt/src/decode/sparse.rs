//! The decoder of `ADAPTIVE_SPARSE` int8 blocks: the magnitude width `k` (<= 7), then
//! each value as a zero flag under the flags of the two values before it, and for a
//! non-zero value its magnitude minus one as `k` bits down a tree of adaptive bits, then
//! its sign.

use super::range::{Bit, Decoder};
use crate::{Error, Result};

/// The contexts of a block whose non-zero magnitudes minus one fit `k` bits.
struct SparseContexts {
    k: u32,
    /// By the zero flags of the two values before (1 = zero).
    zero: [Bit; 4],
    /// Node `i` of the magnitude tree (root 1, children `2i` and `2i + 1`), `i < 2^k`.
    magnitude: [Bit; 128],
    sign: Bit,
    history: usize,
}

impl SparseContexts {
    fn decode(&mut self, dec: &mut Decoder) -> Result<i8> {
        let zero = dec.bit(&mut self.zero[self.history])?;
        self.history = ((self.history << 1) | usize::from(zero)) & 3;
        if zero {
            return Ok(0);
        }
        let mut node = 1;
        for _ in 0..self.k {
            let bit = dec.bit(&mut self.magnitude[node])?;
            node = 2 * node + usize::from(bit);
        }
        // 1..=128.
        let m = (node - (1 << self.k)) as i32 + 1;
        let v = if dec.bit(&mut self.sign)? { -m } else { m };
        i8::try_from(v)
            .map_err(|_| Error::malformed("weight out of int8 range in compressed block"))
    }
}

/// Decodes `out.len()` int8 values.
pub fn decode(stream: &[u8], out: &mut [u8]) -> Result<()> {
    let (&k, body) = stream
        .split_first()
        .ok_or(Error::malformed("truncated compressed block"))?;
    if k > 7 {
        return Err(Error::malformed(
            "magnitude width of a sparse block is more than 7 bits",
        ));
    }
    let mut ctx = SparseContexts {
        k: u32::from(k),
        zero: [Bit::NEW; 4],
        magnitude: [Bit::NEW; 128],
        sign: Bit::NEW,
        history: 0,
    };
    let mut dec = Decoder::new(body);
    for dst in out {
        *dst = ctx.decode(&mut dec)? as u8;
    }
    dec.finish()
}
