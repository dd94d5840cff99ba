//! Context-adaptive coding of sparse, low-bit int8 weights (pruned weights on a grid of
//! fewer than 8 bits, as `nnopt compress` makes them).
//!
//! Each value is a zero flag, coded under the flags of the two values before it (so a
//! run of zeros, such as a pruned channel, costs almost nothing, and isolated zeros cost
//! their frequency); a non-zero value then codes its magnitude minus one as a `k`-bit
//! number down a binary tree of adaptive bits (every magnitude learns its own
//! probability: an adaptive order-0 code of the block's non-zero magnitudes), then its
//! sign. `k`, the bit length of the largest magnitude minus one, is the stream's first
//! byte, so a block on a 4-bit grid (magnitudes 1..=7) codes 3 bits of tree a value.

use super::adaptive::{Bit, Encoder};

/// The contexts of a block whose non-zero magnitudes minus one fit `k` bits.
struct SparseContexts {
    k: u32,
    /// By the zero flags of the two values before (1 = zero).
    zero: [Bit; 4],
    /// Node `i` of the magnitude tree (root 1, children `2i` and `2i + 1`).
    magnitude: Vec<Bit>,
    sign: Bit,
    history: usize,
}

impl SparseContexts {
    fn new(k: u32) -> Self {
        SparseContexts {
            k,
            zero: [Bit::default(); 4],
            magnitude: vec![Bit::default(); 1 << k],
            sign: Bit::default(),
            history: 0,
        }
    }

    fn push_history(&mut self, zero: bool) {
        self.history = ((self.history << 1) | usize::from(zero)) & 3;
    }

    fn encode(&mut self, enc: &mut Encoder, v: i8) {
        let zero = v == 0;
        enc.bit(&mut self.zero[self.history], zero);
        self.push_history(zero);
        if zero {
            return;
        }
        let m = u32::from(v.unsigned_abs()) - 1;
        let mut node = 1;
        for i in (0..self.k).rev() {
            let bit = (m >> i) & 1 == 1;
            enc.bit(&mut self.magnitude[node], bit);
            node = 2 * node + usize::from(bit);
        }
        enc.bit(&mut self.sign, v < 0);
    }
}

/// Bit length of the largest magnitude minus one among the non-zero values.
fn magnitude_bits(data: &[u8]) -> u32 {
    let max = data
        .iter()
        .map(|&b| u32::from((b as i8).unsigned_abs()))
        .max()
        .unwrap_or(0);
    u32::BITS - max.saturating_sub(1).leading_zeros()
}

/// Codes int8 values (as bytes).
pub fn encode(data: &[u8]) -> Option<Vec<u8>> {
    let k = magnitude_bits(data);
    let mut ctx = SparseContexts::new(k);
    let mut enc = Encoder::new();
    for &b in data {
        ctx.encode(&mut enc, b as i8);
    }
    let coded = enc.finish()?;
    let mut out = Vec::with_capacity(coded.len() + 1);
    out.push(k as u8);
    out.extend_from_slice(&coded);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes a stream of [`encode`] to `len` bytes.
    fn decode(stream: &[u8], len: usize) -> nnopt_compiler::Result<Vec<u8>> {
        super::super::decompress(&[&[super::super::ADAPTIVE_SPARSE], stream].concat(), len)
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<i8>(), 0..3000)) {
            let bytes: Vec<u8> = data.iter().map(|&v| v as u8).collect();
            let c = encode(&bytes).unwrap();
            prop_assert_eq!(decode(&c, bytes.len()).unwrap(), bytes);
        }
    }

    #[test]
    fn magnitude_width_covers_the_extremes() {
        assert_eq!(magnitude_bits(&[0, 0]), 0);
        assert_eq!(magnitude_bits(&[1, 0xff]), 0);
        assert_eq!(magnitude_bits(&[7, 0]), 3);
        assert_eq!(magnitude_bits(&[8]), 3);
        assert_eq!(magnitude_bits(&[9]), 4);
        assert_eq!(magnitude_bits(&[0x80]), 7);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all).unwrap(), 256).unwrap(), all);
    }

    #[test]
    fn corrupt_streams_give_errors_not_panics() {
        let data: Vec<u8> = (0..500u32).map(|i| ((i * 7 % 5) as i8 - 2) as u8).collect();
        let c = encode(&data).unwrap();
        assert!(decode(&[], 3).is_err());
        assert!(decode(&[8, 0, 0, 0, 0], 3).is_err());
        for i in 0..c.len() {
            let mut bad = c.clone();
            bad[i] ^= 0x5a;
            let _ = decode(&bad, data.len());
        }
        let _ = decode(&c[..c.len() / 2], data.len());
    }
}
