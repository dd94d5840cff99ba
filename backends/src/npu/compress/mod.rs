//! Lossless weight compression: each block (one layer's weights, zero points, biases or
//! requantization parameters) is coded with whichever method gives the fewest bytes:
//! stored as is, rANS under the block's own order-0 frequency table, or context-adaptive
//! binary arithmetic coding under a binarization of what the block's bytes mean
//! ([`Kind`]). A block of requantization records may also code each byte position of its
//! records separately.
//!
//! Block stream: one method byte, then
//! - `STORED` (0): the bytes;
//! - `RANS` (1): the smallest and largest byte value `lo`, `hi`; one LEB128 number per
//!   value in `lo..=hi` (its frequency minus one, the frequencies summing to 2^12); the
//!   rANS words (u16, little-endian);
//! - `PLANAR` (2): the record size `k` (>= 2, dividing the block length); then for each
//!   byte position `p` in `0..k` (the plane of bytes `p, p + k, p + 2k, ...`) the LEB128
//!   length of the plane's compressed stream and that stream (`STORED` or `RANS`);
//! - `ADAPTIVE_INT8` (3), `ADAPTIVE_LEB128` (4), `ADAPTIVE_REQUANT` (5), since format 1.2:
//!   range-coder words (u32, big-endian) of the binarized block, with adaptive bit
//!   probabilities that start at 1/2 (see [`adaptive`] and [`typed`]);
//! - `ADAPTIVE_SPARSE` (6), since format 1.5: the magnitude width, then range-coder words
//!   of int8 values as zero flags under a run context, magnitudes and signs (see
//!   [`sparse`]); tried on blocks that are sparse or on a grid of fewer than 8 bits.
//!
//! The decoder (`nnopt_rt::decode`) needs the block's length from its caller.
//!
//! All models are computed with integer arithmetic only, so encoder and decoder (the
//! virtual NPU's loader) build identical models on any machine.

mod adaptive;
mod sparse;
mod typed;
mod weights;

pub use weights::{
    compress_weights, compress_weights_coded, BlockStats, CompressedBlock, CompressedWeights, Part,
};

use constriction::stream::model::SmallContiguousCategoricalEntropyModel;
use constriction::stream::stack::SmallAnsCoder;
use nnopt_compiler::{Error, Result};

const STORED: u8 = 0;
const RANS: u8 = 1;
const PLANAR: u8 = 2;
const ADAPTIVE_INT8: u8 = 3;
const ADAPTIVE_LEB128: u8 = 4;
const ADAPTIVE_REQUANT: u8 = 5;
const ADAPTIVE_SPARSE: u8 = 6;
/// Frequency precision (bits) of the rANS model.
const PRECISION: u32 = 12;

/// Bytes of a requantization record ([`Kind::Requant`]).
pub const REQUANT_RECORD: usize = typed::RECORD;

/// What a block's bytes are: picks the binarization of its adaptive coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// int8 values (weights).
    Int8,
    /// LEB128 numbers of at most 32 bits (zigzag biases and zero points).
    Leb128,
    /// 5-byte requantization records: i32 LE multiplier, i8 shift.
    Requant,
    /// Little-endian f32 values (FP8 scales and biases): whole or by byte plane.
    F32,
}

/// How the parts of a weight block (weights and per-channel parameters) are coded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeightCoding {
    /// With whichever method gives the fewest bytes.
    #[default]
    Compressed,
    /// Stored as is, so a runtime reads the weights in place and the parameters without
    /// entropy decoding (firmware that runs from flash trades bytes for speed).
    Stored,
}

/// A `STORED` block of `data`.
pub fn store(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(STORED);
    out.extend_from_slice(data);
    out
}

/// Compresses a block of `kind` bytes with the method that gives the fewest bytes.
pub fn compress_kind(data: &[u8], kind: Kind) -> Vec<u8> {
    let (mut best, order0) = match kind {
        Kind::F32 => return compress_records(data, 4),
        Kind::Requant => (compress_records(data, REQUANT_RECORD), None),
        Kind::Int8 | Kind::Leb128 => compress_plain(data),
    };
    if kind == Kind::Int8 && sparse_or_low_bit(data) {
        keep_smaller(&mut best, ADAPTIVE_SPARSE, sparse::encode(data));
    }
    // Adaptive coding of bytes that are i.i.d. (as weights nearly are) does not beat
    // their order-0 code (the rANS words) by more than ~0.2 %: skip it, as the slowest
    // method, when even that cannot beat the best so far, or when the order-0 code saves
    // less than 1 % (near-random bytes such as random-init layers; on the benchmark
    // models this skip loses no byte and a fifth of the coding time).
    if order0.is_some_and(|n| n * 501 >= best.len() * 500 || n * 100 >= data.len() * 99) {
        return best;
    }
    let (method, coded) = match kind {
        Kind::Int8 => (ADAPTIVE_INT8, typed::encode_int8(data)),
        Kind::Leb128 => (ADAPTIVE_LEB128, typed::encode_leb128(data)),
        Kind::Requant => (ADAPTIVE_REQUANT, typed::encode_requant(data)),
        Kind::F32 => return best,
    };
    keep_smaller(&mut best, method, coded);
    debug_assert!(decompress(&best, data.len()).is_ok_and(|d| d == data));
    best
}

/// Replaces `best` by `method` and its `coded` stream if that is smaller.
fn keep_smaller(best: &mut Vec<u8>, method: u8, coded: Option<Vec<u8>>) {
    if let Some(coded) = coded.filter(|c| c.len() + 1 < best.len()) {
        *best = Vec::with_capacity(coded.len() + 1);
        best.push(method);
        best.extend_from_slice(&coded);
    }
}

/// Whether int8 values are worth [`sparse`] coding: at least an eighth are zero, or all
/// lie on a grid of 6 bits or fewer (magnitudes up to 31). Dense 8-bit weights (a few
/// percent zeros) skip it, and code as before format 1.5.
fn sparse_or_low_bit(data: &[u8]) -> bool {
    let zeros = data.iter().filter(|&&b| b == 0).count();
    zeros * 8 >= data.len() || data.iter().all(|&b| (b as i8).unsigned_abs() <= 31)
}

/// Compresses a block of bytes (stored or rANS).
fn compress(data: &[u8]) -> Vec<u8> {
    compress_plain(data).0
}

/// [`compress`], and the bytes of the rANS words (the block's order-0 code without its
/// table), if rANS could code it.
fn compress_plain(data: &[u8]) -> (Vec<u8>, Option<usize>) {
    let mut stored = Vec::with_capacity(data.len() + 1);
    stored.push(STORED);
    stored.extend_from_slice(data);
    match rans_encode(data) {
        Some((coded, words)) if coded.len() < stored.len() => (coded, Some(words)),
        Some((_, words)) => (stored, Some(words)),
        None => (stored, None),
    }
}

/// Compresses a block of records of `record` bytes each (a multiple-byte number per
/// channel, say): codes each byte position as its own plane when that is smaller than
/// [`compress`] of the whole block, whose result it returns otherwise.
fn compress_records(data: &[u8], record: usize) -> Vec<u8> {
    let whole = compress(data);
    let Ok(k) = u8::try_from(record) else {
        return whole;
    };
    if k < 2 || !data.len().is_multiple_of(record) {
        return whole;
    }
    let mut out = vec![PLANAR, k];
    for p in 0..record {
        let plane: Vec<u8> = data.iter().skip(p).step_by(record).copied().collect();
        let coded = compress(&plane);
        leb128(&mut out, coded.len() as u32);
        out.extend_from_slice(&coded);
        if out.len() >= whole.len() {
            return whole;
        }
    }
    out
}

/// Decompresses a block of `len` bytes made by [`compress_kind`] or [`compress`], with
/// the firmware runtime's decoders (`nnopt_rt::decode`: every loop bounded by the
/// block's or the output's length), the only ones. The caller bounds `len`.
pub fn decompress(block: &[u8], len: usize) -> Result<Vec<u8>> {
    let mut out = vec![0u8; len];
    nnopt_rt::decode::decompress(block, &mut out).map_err(|e| Error::new(e.to_string()))?;
    Ok(out)
}

/// Quantized frequencies (each >= 1, summing to 2^PRECISION) of the byte values in
/// `lo..=hi`, from their counts.
fn frequencies(counts: &[u64]) -> Vec<u16> {
    let total: u64 = counts.iter().sum();
    let n = counts.len() as u64;
    let budget = (1u64 << PRECISION) - n;
    let mut freq: Vec<u64> = counts.iter().map(|&c| 1 + c * budget / total).collect();
    let mut left = (1u64 << PRECISION) - freq.iter().sum::<u64>();
    // Hand the rounding remainder to the most frequent values (ties: lower value first).
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        freq[i] += 1;
        left -= 1;
    }
    freq.into_iter().map(|f| f as u16).collect()
}

fn model(freq: &[u16]) -> Result<SmallContiguousCategoricalEntropyModel> {
    SmallContiguousCategoricalEntropyModel::from_nonzero_fixed_point_probabilities(freq, false)
        .map_err(|()| Error::new("invalid frequency table in compressed block"))
}

/// The `RANS` block of `data` and the bytes of its rANS words.
fn rans_encode(data: &[u8]) -> Option<(Vec<u8>, usize)> {
    let (&lo, &hi) = (data.iter().min()?, data.iter().max()?);
    // The model needs two values at least: widen a constant block's range by one.
    let (lo, hi) = match (lo == hi, hi.checked_add(1)) {
        (false, _) => (lo, hi),
        (true, Some(next)) => (lo, next),
        (true, None) => (lo - 1, hi),
    };
    let mut counts = vec![0u64; (hi - lo) as usize + 1];
    for &b in data {
        counts[(b - lo) as usize] += 1;
    }
    let freq = frequencies(&counts);
    let m = model(&freq).ok()?;
    let mut coder = SmallAnsCoder::new();
    coder
        .encode_iid_symbols_reverse(data.iter().map(|&b| (b - lo) as usize), &m)
        .ok()?;
    let words = coder.into_compressed().ok()?;
    let mut out = vec![RANS, lo, hi];
    for &f in &freq {
        leb128(&mut out, f as u32 - 1);
    }
    let payload = 2 * words.len();
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    Some((out, payload))
}

fn leb128(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(data: &[u8], pos: &mut usize) -> Option<u32> {
    let mut v = 0u32;
    for shift in (0..32).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npu::binary::params;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let c = compress(&data);
            prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }

        #[test]
        fn skewed_data_round_trips_and_shrinks(
            data in proptest::collection::vec(prop_oneof![8 => Just(0u8), 1 => any::<u8>()], 500..3000)
        ) {
            let c = compress(&data);
            prop_assert!(c.len() < data.len());
            prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    proptest! {
        #[test]
        fn records_round_trip(
            recs in proptest::collection::vec((any::<i32>(), -31i8..31), 0..400),
            record in 1usize..7,
        ) {
            let data: Vec<u8> = recs
                .iter()
                .flat_map(|&(m, s)| m.to_le_bytes().into_iter().chain([s as u8]))
                .collect();
            let data = &data[..data.len() / record * record];
            let c = compress_records(data, record);
            prop_assert!(c.len() <= compress(data).len());
            prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }
    }

    /// Weight-like int8 blocks: a mix of a spread-out and a peaked distribution, or edge
    /// cases (constant blocks, one element).
    fn int8_block() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<i8>(), 0..3000),
            proptest::collection::vec(prop_oneof![6 => -6i8..6, 1 => any::<i8>()], 1..3000),
            (any::<i8>(), 1usize..5000).prop_map(|(v, n)| vec![v; n]),
            Just(vec![0i8; 4096]),
            Just(vec![-128i8; 777]),
            any::<i8>().prop_map(|v| vec![v]),
        ]
        .prop_map(|v| v.into_iter().map(|x| x as u8).collect())
    }

    proptest! {
        #[test]
        fn int8_blocks_round_trip(data in int8_block()) {
            let c = compress_kind(&data, Kind::Int8);
            prop_assert!(c.len() <= data.len() + 1);
            prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }

        #[test]
        fn leb128_blocks_round_trip(
            v in proptest::collection::vec(prop_oneof![
                4 => -300i32..300,
                1 => any::<i32>(),
                1 => Just(i32::MIN),
                1 => Just(i32::MAX),
            ], 0..500),
        ) {
            let data = params::encode_ints(&v);
            let c = compress_kind(&data, Kind::Leb128);
            prop_assert!(c.len() <= data.len() + 1);
            prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }

        #[test]
        fn requant_blocks_round_trip(
            recs in proptest::collection::vec((
                prop_oneof![3 => 0x4000_0000i32..i32::MAX, 1 => any::<i32>(), 1 => Just(0)],
                prop_oneof![3 => -9i8..-7, 1 => any::<i8>()],
            ), 0..400),
        ) {
            let data: Vec<u8> = recs
                .iter()
                .flat_map(|&(m, s)| m.to_le_bytes().into_iter().chain([s as u8]))
                .collect();
            let c = compress_kind(&data, Kind::Requant);
            prop_assert!(c.len() <= compress_records(&data, REQUANT_RECORD).len());
            prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
        }

        #[test]
        fn one_channel_blocks_round_trip(
            w in proptest::collection::vec(any::<i8>(), 1..200),
            bias in any::<i32>(),
            m in any::<i32>(),
            shift in any::<i8>(),
        ) {
            let parts = [
                (w.iter().map(|&x| x as u8).collect::<Vec<u8>>(), Kind::Int8),
                (params::encode_ints(&[bias]), Kind::Leb128),
                (params::encode_ints(&[0]), Kind::Leb128),
                (m.to_le_bytes().into_iter().chain([shift as u8]).collect(), Kind::Requant),
            ];
            for (data, kind) in parts {
                let c = compress_kind(&data, kind);
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            }
        }
    }

    #[test]
    fn adaptive_coding_beats_a_table_on_small_peaked_blocks() {
        // A 3x3x16 kernel's worth of small weights: the rANS table costs more than the
        // adaptive model's learning.
        let mut x = 7u32;
        let data: Vec<u8> = (0..600)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let r = (x >> 16) % 64;
                (if r < 32 {
                    r as i8 / 4
                } else {
                    -((r - 32) as i8) / 4
                }) as u8
            })
            .collect();
        let c = compress_kind(&data, Kind::Int8);
        // On a 5-bit grid: the sparse coder's magnitude tree learns each value.
        assert_eq!(c[0], ADAPTIVE_SPARSE);
        let int8 = [vec![ADAPTIVE_INT8], typed::encode_int8(&data).unwrap()].concat();
        assert!(int8.len() < compress(&data).len());
        assert_eq!(decompress(&int8, data.len()).unwrap(), data);
        assert!(c.len() < compress(&data).len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        // The same stream read as another kind, or cut short, is an error, not a panic.
        assert!(decompress(&c[..c.len() - 4], data.len()).map_or(true, |d| d != data));
        let _ = decompress(
            &[ADAPTIVE_REQUANT]
                .into_iter()
                .chain(c[1..].iter().copied())
                .collect::<Vec<_>>(),
            600,
        );
        assert!(decompress(&[ADAPTIVE_INT8, 7, 0], 10).is_err());
        assert!(decompress(&[ADAPTIVE_REQUANT], 7).is_err());
        for i in 1..c.len() {
            let mut bad = c.clone();
            bad[i] ^= 0x5a;
            let _ = decompress(&bad, data.len());
        }
        // Non-canonical LEB128 (0x80 0x00 for zero) is left to the other methods.
        assert!(typed::encode_leb128(&[0x80, 0x00]).is_none());
        let c = compress_kind(&[0x80, 0x00], Kind::Leb128);
        assert_eq!(decompress(&c, 2).unwrap(), [0x80, 0x00]);
    }

    /// Order-0 entropy of `data` in bytes.
    fn entropy_bytes(data: &[u8]) -> f64 {
        let mut counts = [0usize; 256];
        data.iter().for_each(|&b| counts[b as usize] += 1);
        let n = data.len() as f64;
        let bits: f64 = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| -(c as f64) * (c as f64 / n).log2())
            .sum();
        bits / 8.0
    }

    /// Laplacian-like weights of 64 channels of 3x3x32, pruned to `sparsity` by magnitude
    /// and rounded to a `bits`-bit grid per channel; channel 5 pruned whole.
    fn pruned_low_bit(bits: u32, sparsity: f64) -> Vec<u8> {
        let mut x = 0x9e37_79b9u32;
        let per = 9 * 32;
        let raw: Vec<f64> = (0..64 * per)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let u = (f64::from(x) + 0.5) / 4_294_967_296.0;
                if u < 0.5 {
                    (2.0 * u).ln()
                } else {
                    -(2.0 - 2.0 * u).ln()
                }
            })
            .collect();
        let mut mags: Vec<f64> = raw.iter().map(|v| v.abs()).collect();
        mags.sort_by(f64::total_cmp);
        let cut = mags[(sparsity * mags.len() as f64) as usize];
        let qmax = f64::from((1 << (bits - 1)) - 1);
        raw.chunks(per)
            .enumerate()
            .flat_map(|(c, ch)| {
                let max = ch.iter().fold(0f64, |m, v| m.max(v.abs()));
                ch.iter().map(move |&v| {
                    let kept = v.abs() > cut && c != 5;
                    (if kept {
                        (v / max * qmax).round() as i8
                    } else {
                        0
                    }) as u8
                })
            })
            .collect()
    }

    #[test]
    fn sparse_low_bit_blocks_code_near_their_entropy() {
        for (bits, sparsity) in [(2, 0.5), (3, 0.6), (4, 0.0), (4, 0.75), (6, 0.3), (8, 0.9)] {
            let data = pruned_low_bit(bits, sparsity);
            let c = compress_kind(&data, Kind::Int8);
            assert_eq!(decompress(&c, data.len()).unwrap(), data);
            let h = entropy_bytes(&data);
            // The pruned channel's run is cheaper than order-0 coding; the rest is the
            // adaptive models' learning cost.
            assert!(
                (c.len() as f64) < h * 1.02 + 16.0,
                "{bits} bits at sparsity {sparsity}: {} bytes, order-0 entropy {h:.0}",
                c.len()
            );
            if sparsity > 0.5 {
                assert_eq!(c[0], ADAPTIVE_SPARSE, "{bits} bits at sparsity {sparsity}");
            }
        }
    }

    #[test]
    fn planes_beat_a_pooled_table_on_structured_records() {
        // Requantization-like records: a random multiplier with a fixed top bit pattern
        // and a constant shift; per-plane tables code the shift and top byte in ~0 bits.
        let mut x = 0x1234_5678u32;
        let data: Vec<u8> = (0..2000)
            .flat_map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let m = 0x4000_0000 | (x >> 2) & 0x00ff_ffff;
                m.to_le_bytes().into_iter().chain([250u8])
            })
            .collect();
        let planar = compress_records(&data, 5);
        assert_eq!(planar[0], PLANAR);
        assert!(planar.len() * 10 < compress(&data).len() * 9);
        assert_eq!(decompress(&planar, data.len()).unwrap(), data);
        assert!(decompress(&planar, data.len() - 5).is_err());
        assert!(decompress(&planar[..planar.len() - 1], data.len()).is_err());
        assert!(decompress(&[PLANAR, 5, 0], 10).is_err());
        assert!(decompress(&[PLANAR, 1], 3).is_err());
        assert!(decompress(&[PLANAR, 2, 2, PLANAR, 2], 4).is_err());
    }

    #[test]
    fn corrupt_blocks_give_errors() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * i % 7) as u8).collect();
        let c = compress(&data);
        assert_eq!(c[0], RANS);
        assert!(decompress(&c[..c.len() / 2], data.len()).is_err());
        assert!(decompress(&[], 0).is_err());
        assert!(decompress(&[9, 1, 2], 2).is_err());
        assert!(decompress(&[STORED, 1], 2).is_err());
        for i in 0..c.len() {
            let mut bad = c.clone();
            bad[i] ^= 0x5a;
            // Never a panic; a flip either is detected or decodes to other bytes (the
            // binary's CRC catches those).
            let _ = decompress(&bad, data.len());
        }
    }
}
