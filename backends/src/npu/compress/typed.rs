//! Context-adaptive coding of the three kinds of weight-block parts, each binarized by
//! what its bytes mean:
//! - int8 weights: a magnitude (bit length, then the bits below the leading one) and a
//!   sign;
//! - zigzag LEB128 numbers (biases, zero points): each number's zigzag value;
//! - requantization records (i32 LE multiplier, i8 shift): the multiplier's magnitude
//!   (with its count of trailing zero bits: multipliers made from short float scales
//!   end in zeros) and sign, and the shift.
//!
//! The firmware runtime's decoders (`nnopt_rt::decode`) rebuild the exact bytes; an
//! encoder returns `None` when the bytes are not
//! in their kind's canonical form (the caller then uses another method).

use super::adaptive::{Bit, Encoder, UIntContexts};

/// Bytes of a requantization record.
pub const RECORD: usize = 5;

// Binarization parameters (see `UIntContexts`): mantissa bits coded under a context tree,
// and mantissa bits coded adaptively at all, from the top (chosen on the benchmark models
// of benches/vela_compare.py; the lower bits of biases and multipliers are noise).

const INT8_TREE: u32 = 3;
const INT8_ADAPTIVE: u32 = 3;
const LEB_TREE: u32 = 2;
const LEB_ADAPTIVE: u32 = 2;
const MULT_TREE: u32 = 4;
const MULT_ADAPTIVE: u32 = 6;

/// Contexts of a signed number: its magnitude and its sign.
struct SignedContexts {
    magnitude: UIntContexts,
    sign: Bit,
}

impl SignedContexts {
    fn new(max_bits: u32, tree_depth: u32, adaptive_bits: u32) -> Self {
        SignedContexts {
            magnitude: UIntContexts::new(max_bits, tree_depth, adaptive_bits),
            sign: Bit::default(),
        }
    }

    fn encode(&mut self, enc: &mut Encoder, v: i64) {
        self.magnitude.encode(enc, v.unsigned_abs() as u32);
        if v != 0 {
            enc.bit(&mut self.sign, v < 0);
        }
    }
}

/// Codes int8 values (as bytes).
pub fn encode_int8(data: &[u8]) -> Option<Vec<u8>> {
    let mut ctx = SignedContexts::new(8, INT8_TREE, INT8_ADAPTIVE);
    let mut enc = Encoder::new();
    for &b in data {
        ctx.encode(&mut enc, i64::from(b as i8));
    }
    enc.finish()
}

/// Codes a sequence of LEB128 numbers of at most 32 bits (zigzag-coded integers).
pub fn encode_leb128(data: &[u8]) -> Option<Vec<u8>> {
    let mut ctx = UIntContexts::new(32, LEB_TREE, LEB_ADAPTIVE);
    let mut enc = Encoder::new();
    let mut pos = 0;
    while pos < data.len() {
        let start = pos;
        let v = super::read_leb128(data, &mut pos)?;
        let mut canonical = Vec::with_capacity(5);
        super::leb128(&mut canonical, v);
        if canonical != data[start..pos] {
            return None;
        }
        ctx.encode(&mut enc, v);
    }
    enc.finish()
}

/// Contexts of requantization records.
struct RequantContexts {
    magnitude: UIntContexts,
    trailing_zeros: UIntContexts,
    sign: Bit,
    shift: SignedContexts,
}

impl RequantContexts {
    fn new() -> Self {
        RequantContexts {
            magnitude: UIntContexts::new(32, MULT_TREE, MULT_ADAPTIVE),
            trailing_zeros: UIntContexts::new(5, 2, 5),
            sign: Bit::default(),
            shift: SignedContexts::new(8, 3, 8),
        }
    }

    fn encode(&mut self, enc: &mut Encoder, m: i32, shift: i64) {
        self.magnitude
            .encode_trailing(enc, &mut self.trailing_zeros, m.unsigned_abs());
        if m != 0 {
            enc.bit(&mut self.sign, m < 0);
        }
        self.shift.encode(enc, shift);
    }
}

/// Codes 5-byte requantization records; `None` if `data` is not a whole number of them.
pub fn encode_requant(data: &[u8]) -> Option<Vec<u8>> {
    if !data.len().is_multiple_of(RECORD) {
        return None;
    }
    let mut ctx = RequantContexts::new();
    let mut enc = Encoder::new();
    for r in data.chunks_exact(RECORD) {
        let m = i32::from_le_bytes([r[0], r[1], r[2], r[3]]);
        ctx.encode(&mut enc, m, i64::from(r[4] as i8));
    }
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt_compiler::Result;
    use proptest::prelude::*;

    /// Decodes a stream of `method` (without its method byte) to `len` bytes.
    fn decode(method: u8, stream: &[u8], len: usize) -> Result<Vec<u8>> {
        super::super::decompress(&[&[method], stream].concat(), len)
    }
    fn decode_int8(stream: &[u8], len: usize) -> Result<Vec<u8>> {
        decode(super::super::ADAPTIVE_INT8, stream, len)
    }
    fn decode_leb128(stream: &[u8], len: usize) -> Result<Vec<u8>> {
        decode(super::super::ADAPTIVE_LEB128, stream, len)
    }
    fn decode_requant(stream: &[u8], len: usize) -> Result<Vec<u8>> {
        decode(super::super::ADAPTIVE_REQUANT, stream, len)
    }

    // The coders alone (without `compress_kind`'s fallback to other methods).
    proptest! {
        #[test]
        fn int8_round_trips(
            data in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..2000),
                (any::<u8>(), 1usize..3000).prop_map(|(v, n)| vec![v; n]),
            ],
        ) {
            let stream = encode_int8(&data).unwrap();
            prop_assert_eq!(decode_int8(&stream, data.len()).unwrap(), data);
        }

        #[test]
        fn leb128_round_trips(v in proptest::collection::vec(any::<u32>(), 0..300)) {
            let mut data = Vec::new();
            for &x in &v {
                super::super::leb128(&mut data, x);
            }
            let stream = encode_leb128(&data).unwrap();
            prop_assert_eq!(decode_leb128(&stream, data.len()).unwrap(), data);
        }

        #[test]
        fn requant_round_trips(
            recs in proptest::collection::vec((
                prop_oneof![
                    any::<i32>(),
                    (any::<i32>(), 0u32..31).prop_map(|(m, t)| m >> t << t),
                    Just(i32::MIN),
                    Just(0),
                    Just(1),
                ],
                any::<i8>(),
            ), 0..300),
        ) {
            let data: Vec<u8> = recs
                .iter()
                .flat_map(|&(m, s)| m.to_le_bytes().into_iter().chain([s as u8]))
                .collect();
            let stream = encode_requant(&data).unwrap();
            prop_assert_eq!(decode_requant(&stream, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn edge_blocks_round_trip() {
        for data in [
            vec![],
            vec![0u8; 4096],
            vec![0x80u8; 777],
            vec![0x7f],
            vec![0x80],
        ] {
            let stream = encode_int8(&data).unwrap();
            assert_eq!(decode_int8(&stream, data.len()).unwrap(), data);
        }
        // Trailing zeros: a multiplier with its low 7 bits clear costs less than one without.
        let rec = |m: i32| -> Vec<u8> {
            (0..64)
                .flat_map(|i| (m ^ (i << 8)).to_le_bytes().into_iter().chain([249u8]))
                .collect()
        };
        let short = encode_requant(&rec(0x5a5a_5a00)).unwrap();
        let long = encode_requant(&rec(0x5a5a_5a5b)).unwrap();
        assert!(
            short.len() + 32 < long.len(),
            "{} vs {}",
            short.len(),
            long.len()
        );
        assert!(encode_requant(&[1, 2, 3]).is_none());
        assert!(decode_requant(&short, 6).is_err());
    }
}
