//! Mutants: mutant `i` of a campaign is a pure function of the format, the campaign
//! seed, `i` and the seed files, so any finding can be made again from its index.
//!
//! Each mutant is a seed with one to six edits. An edit is byte-level ([`bytes`]) or
//! aware of the format's structure: nnopt's containers are edited in their payload and
//! resealed ([`container`]), FlatBuffers in their aligned words ([`flatbuf`]), ONNX in
//! its protobuf fields ([`protobuf`]), text in its numbers, lines and nesting ([`text`]),
//! `.npy` files in their header ([`npy`]).

mod bytes;
mod container;
mod flatbuf;
mod npy;
mod protobuf;
mod text;

use crate::format::Format;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The generator every mutator draws from.
type Rng = Xoshiro256PlusPlus;

/// Mutant `index` of `format` from `seeds` (not empty) in the campaign `seed`.
pub fn mutant(format: Format, seeds: &[Vec<u8>], seed: u64, index: u64) -> Vec<u8> {
    let mixed = seed
        ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (format as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut rng = Rng::seed_from_u64(mixed);
    let mut data = seeds[rng.random_range(0..seeds.len())].clone();
    let edits = match rng.random_bool(0.5) {
        true => 1,
        false => rng.random_range(2..=6),
    };
    for _ in 0..edits {
        let partner = &seeds[rng.random_range(0..seeds.len())];
        data = edit(format, data, partner, &mut rng);
    }
    data
}

/// One edit of `data`; `partner` is another seed to splice with.
fn edit(format: Format, mut data: Vec<u8>, partner: &[u8], rng: &mut Rng) -> Vec<u8> {
    match format {
        Format::Npub | Format::Ntp | Format::Message if rng.random_bool(0.9) => {
            container::edit_payload(data, partner, rng)
        }
        Format::Tflite if rng.random_bool(0.5) => {
            flatbuf::edit(&mut data, rng);
            data
        }
        Format::Onnx if rng.random_bool(0.5) => match protobuf::edit(&data, rng) {
            Some(edited) => edited,
            None => bytes::edit(data, partner, rng),
        },
        Format::Nnir | Format::Pipeline if rng.random_bool(0.85) => text::edit(data, rng),
        Format::Npy if rng.random_bool(0.7) => match npy::edit(&data, rng) {
            Some(edited) => edited,
            None => bytes::edit(data, partner, rng),
        },
        _ => bytes::edit(data, partner, rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_reproducible_and_vary() {
        let seeds = vec![b"graph \"g\"(%x) {\n  %x: f32[1,2] = input\n}\n".to_vec()];
        for format in Format::ALL {
            let a: Vec<Vec<u8>> = (0..50).map(|i| mutant(format, &seeds, 7, i)).collect();
            let b: Vec<Vec<u8>> = (0..50).map(|i| mutant(format, &seeds, 7, i)).collect();
            assert_eq!(a, b, "{format:?}");
            assert!(a.iter().any(|m| m != &seeds[0]), "{format:?}");
        }
    }
}
