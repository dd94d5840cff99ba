//! FlatBuffer edits: FlatBuffers are offsets, lengths and scalars in aligned
//! little-endian words, so an edit sets an aligned 32-bit word (preferring small values,
//! which are mostly offsets, vector lengths and counts) or a 16-bit vtable entry.

use super::bytes::interesting_u32;
use super::Rng;
use rand::RngExt;

/// One edit of an aligned word of `data` (a FlatBuffer, or the payload of a container,
/// which starts 4-aligned).
pub fn edit(data: &mut [u8], rng: &mut Rng) {
    if data.len() < 4 {
        return;
    }
    if rng.random_bool(0.25) {
        let at = 2 * rng.random_range(0..data.len() / 2);
        let old = u16::from_le_bytes([data[at], data[at + 1]]);
        let new = match rng.random_range(0..4) {
            0 => 0,
            1 => 0xffff,
            2 => old.wrapping_add_signed(delta(rng) as i16),
            _ => rng.random(),
        };
        data[at..at + 2].copy_from_slice(&new.to_le_bytes());
        return;
    }
    let words = data.len() / 4;
    let word =
        |data: &[u8], w: usize| u32::from_le_bytes(data[4 * w..4 * w + 4].try_into().unwrap());
    let w = (0..8)
        .map(|_| rng.random_range(0..words))
        .find(|&w| word(data, w) < 1 << 16)
        .unwrap_or_else(|| rng.random_range(0..words));
    let old = word(data, w);
    let new = match rng.random_range(0..4) {
        0 | 1 => interesting_u32(rng),
        2 => old.wrapping_add_signed(delta(rng)),
        _ => word(data, rng.random_range(0..words)),
    };
    data[4 * w..4 * w + 4].copy_from_slice(&new.to_le_bytes());
}

/// A small step, up or down, sometimes in whole words.
fn delta(rng: &mut Rng) -> i32 {
    let step = rng.random_range(1..=16) * if rng.random_bool(0.5) { 4 } else { 1 };
    if rng.random_bool(0.5) {
        step
    } else {
        -step
    }
}
