//! Byte-level edits that know nothing of the format: bit flips, interesting bytes and
//! 32-bit words, inserted, deleted and duplicated chunks, truncation and splicing.

use super::Rng;
use rand::RngExt;

/// Bytes at the edges of signed and unsigned ranges.
const INTERESTING_BYTES: [u8; 4] = [0, 0xff, 0x7f, 0x80];

/// 32-bit values at the edges of ranges and sizes.
const INTERESTING_U32: [u32; 7] = [
    0,
    1,
    0xffff_ffff,
    0x7fff_ffff,
    0x8000_0000,
    1 << 16,
    1 << 24,
];

/// An interesting 32-bit value, or (one time in eight) a random one.
pub fn interesting_u32(rng: &mut Rng) -> u32 {
    match rng.random_range(0..8) {
        7 => rng.random(),
        _ => INTERESTING_U32[rng.random_range(0..INTERESTING_U32.len())],
    }
}

/// One byte-level edit of `data`; `partner` is what splices take their tail from.
pub fn edit(mut data: Vec<u8>, partner: &[u8], rng: &mut Rng) -> Vec<u8> {
    let n = data.len();
    if n < 4 {
        insert_chunk(&mut data, rng);
        return data;
    }
    match rng.random_range(0..10) {
        0 => {
            let bit = rng.random_range(0..n * 8);
            data[bit / 8] ^= 1 << (bit % 8);
        }
        1 => {
            let at = rng.random_range(0..n);
            data[at] = match rng.random_bool(0.75) {
                true => INTERESTING_BYTES[rng.random_range(0..INTERESTING_BYTES.len())],
                false => rng.random(),
            };
        }
        2 | 3 => {
            let at = rng.random_range(0..=n - 4);
            data[at..at + 4].copy_from_slice(&interesting_u32(rng).to_le_bytes());
        }
        4 => insert_chunk(&mut data, rng),
        5 => {
            let at = rng.random_range(0..n);
            let len = rng.random_range(1..=(n - at).min(1 + n / 8));
            data.drain(at..at + len);
        }
        6 => {
            let from = rng.random_range(0..n);
            let chunk = data[from..n.min(from + rng.random_range(1..=256))].to_vec();
            let at = rng.random_range(0..=n);
            for _ in 0..rng.random_range(1..=4) {
                data.splice(at..at, chunk.iter().copied());
            }
        }
        7 => data.truncate(rng.random_range(0..n)),
        8 => {
            // At the same offset in both, so aligned structures stay aligned.
            let at = rng.random_range(0..n);
            data.truncate(at);
            data.extend_from_slice(partner.get(at..).unwrap_or_default());
        }
        _ => {
            data.truncate(rng.random_range(0..n));
            let from = rng.random_range(0..=partner.len());
            data.extend_from_slice(&partner[from..]);
        }
    }
    data
}

/// Inserts random bytes, or a run of one interesting byte.
fn insert_chunk(data: &mut Vec<u8>, rng: &mut Rng) {
    let at = rng.random_range(0..=data.len());
    let chunk: Vec<u8> = match rng.random_bool(0.5) {
        true => (0..rng.random_range(1..=32))
            .map(|_| rng.random())
            .collect(),
        false => {
            let byte = INTERESTING_BYTES[rng.random_range(0..INTERESTING_BYTES.len())];
            vec![byte; rng.random_range(1..=256)]
        }
    };
    data.splice(at..at, chunk);
}
