//! The binarization of unsigned numbers of at most `max_bits` bits: the bit length `n`
//! (one adaptive symbol when there are at most [`MAX_SYMBOLS`] lengths, else its bits
//! down a tree of adaptive bits), then the bits below the leading one, from the top. The
//! bit at depth `d` (1 for the one below the leading one) is coded under a context per
//! length and prefix while `d < tree_depth`, then under a context per length and depth
//! up to depth `adaptive_bits`, the rest at probability 1/2.
//!
//! The std encoder allocates its contexts per length and bit position: these are the
//! same contexts, without the ones no number reaches.

use super::range::{Bit, Categorical, Decoder, MAX_SYMBOLS};
use crate::{Error, Result};

/// The parameters of a binarization.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub max_bits: u32,
    pub tree_depth: u32,
    pub adaptive_bits: u32,
}

impl Shape {
    /// Bit lengths, `0..=max_bits`.
    const fn lengths(self) -> usize {
        self.max_bits as usize + 1
    }

    /// Prefix contexts of one length: the prefixes above depth `tree_depth`.
    const fn tree_stride(self) -> usize {
        (1 << self.tree_depth) >> 1
    }

    /// The lowest depth with a context per length and depth.
    const fn first_low(self) -> u32 {
        if self.tree_depth > 1 {
            self.tree_depth
        } else {
            1
        }
    }

    /// Depth contexts of one length.
    const fn low_stride(self) -> usize {
        (self.adaptive_bits + 1).saturating_sub(self.first_low()) as usize
    }

    /// Prefix contexts of all lengths.
    pub const fn tree_len(self) -> usize {
        self.lengths() * self.tree_stride()
    }

    /// Depth contexts of all lengths.
    pub const fn low_len(self) -> usize {
        self.lengths() * self.low_stride()
    }

    /// Nodes of the tree of bit lengths (the bits of `max_bits`), if it has one.
    pub const fn length_len(self) -> usize {
        if self.lengths() <= MAX_SYMBOLS {
            0
        } else {
            1 << (u32::BITS - self.max_bits.leading_zeros())
        }
    }
}

/// The contexts of a [`Shape`], `TREE`, `LOW` and `LENGTH` its `tree_len`, `low_len` and
/// `length_len`.
#[derive(Clone, Copy, Debug)]
pub struct UIntContexts<const TREE: usize, const LOW: usize, const LENGTH: usize> {
    shape: Shape,
    /// The bit length as one symbol, if there are at most [`MAX_SYMBOLS`] lengths...
    length_symbol: Option<Categorical>,
    /// ... else as the bits of a tree (node `i`'s children `2i` and `2i + 1`).
    length_tree: [Bit; LENGTH],
    tree: [Bit; TREE],
    low: [Bit; LOW],
}

impl<const TREE: usize, const LOW: usize, const LENGTH: usize> UIntContexts<TREE, LOW, LENGTH> {
    /// New contexts (build them in a `const` block: the sizes are checked there).
    pub const fn new(shape: Shape) -> Self {
        assert!(shape.max_bits >= 1 && shape.max_bits <= 32);
        assert!(TREE == shape.tree_len() && LOW == shape.low_len());
        assert!(LENGTH == shape.length_len());
        UIntContexts {
            shape,
            length_symbol: if shape.lengths() <= MAX_SYMBOLS {
                Some(Categorical::new(shape.lengths()))
            } else {
                None
            },
            length_tree: [Bit::NEW; LENGTH],
            tree: [Bit::NEW; TREE],
            low: [Bit::NEW; LOW],
        }
    }

    /// Decodes a number.
    pub fn decode(&mut self, dec: &mut Decoder) -> Result<u32> {
        let n = self.decode_length(dec)?;
        self.decode_bits(dec, n, 0)
    }

    /// Decodes a number coded with its count of trailing zero bits (under `zeros`) in
    /// place of its bits from the lowest one down.
    pub fn decode_trailing<const T: usize, const L: usize, const N: usize>(
        &mut self,
        dec: &mut Decoder,
        zeros: &mut UIntContexts<T, L, N>,
    ) -> Result<u32> {
        let n = self.decode_length(dec)?;
        if n < 2 {
            return Ok(n);
        }
        let t = zeros.decode(dec)?;
        if t >= n {
            return Err(Error::malformed(
                "more trailing zeros than bits in a number of a compressed block",
            ));
        }
        let high = self.decode_bits(dec, n, t + 1)?;
        Ok(high | (1 << t))
    }

    /// Decodes a bit length (at most `max_bits`).
    fn decode_length(&mut self, dec: &mut Decoder) -> Result<u32> {
        let n = match &mut self.length_symbol {
            Some(cat) => dec.symbol(cat)? as u32,
            None => {
                // Nodes below `LENGTH`, the leaves from `LENGTH` on.
                let mut node = 1usize;
                while node < LENGTH {
                    let bit = dec.bit(&mut self.length_tree[node])?;
                    node = (node << 1) | usize::from(bit);
                }
                (node - LENGTH) as u32
            }
        };
        if n > self.shape.max_bits {
            return Err(Error::malformed(
                "number longer than its kind in a compressed block",
            ));
        }
        Ok(n)
    }

    /// Decodes the bits of a number of bit length `n` (at most `max_bits`) below its
    /// leading one, down to bit `low`; the bits below `low` are zero.
    fn decode_bits(&mut self, dec: &mut Decoder, n: u32, low: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        let top = n - 1;
        let raw_low = low.min(top);
        let adaptive_low = top.saturating_sub(self.shape.adaptive_bits).max(raw_low);
        let mut v = 1u32;
        let mut node = 1usize;
        for depth in 1..=top - adaptive_low {
            let bit = dec.bit(self.mantissa_ctx(n, depth, node))?;
            v = (v << 1) | u32::from(bit);
            node = (node << 1) | usize::from(bit);
        }
        let count = adaptive_low - raw_low;
        v = (v << count) | dec.raw_bits(count)?;
        Ok(v << raw_low)
    }

    /// The context of the bit at `depth` (1..=`adaptive_bits`) below the leading one of a
    /// number of bit length `n`, the bits above it (after the leading one) `node`.
    fn mantissa_ctx(&mut self, n: u32, depth: u32, node: usize) -> &mut Bit {
        let n = n as usize;
        if depth < self.shape.tree_depth {
            // `node < 2^depth <= 2^(tree_depth - 1)`, the stride.
            &mut self.tree[n * self.shape.tree_stride() + node]
        } else {
            let d = (depth - self.shape.first_low()) as usize;
            &mut self.low[n * self.shape.low_stride() + d]
        }
    }
}
