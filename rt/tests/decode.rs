//! `nnopt_rt::decode`, the only decoder of compressed weight blocks (the compiler's
//! loader calls it too), against the compiler's encoder
//! (`nnopt_backends::npu::compress`): every block the encoder makes decodes to its bytes,
//! and any other block (truncated, flipped, random) gives bytes or an error, without a
//! panic and quickly.

use nnopt_backends::npu::binary;
use nnopt_backends::npu::compress::{self, compress_kind, compress_weights, Kind};
use nnopt_rt::decode::{decode_ints, decompress, requant_record};
use proptest::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const KINDS: [Kind; 4] = [Kind::Int8, Kind::Leb128, Kind::Requant, Kind::F32];

/// The longest a decode of a hostile block of a few KB may take (debug build, a loaded
/// machine): a decoder that loops on its input would take far longer.
const SLOW: Duration = Duration::from_millis(500);

fn rt_decode(block: &[u8], len: usize) -> Result<Vec<u8>, nnopt_rt::Error> {
    let mut out = vec![0; len];
    decompress(block, &mut out).map(|()| out)
}

/// Decodes `block`: its bytes or `None` for an error, without a panic, within [`SLOW`];
/// the compiler's loader (`compress::decompress`) gives the same.
fn cross_check(block: &[u8], len: usize) -> Result<Option<Vec<u8>>, TestCaseError> {
    let start = Instant::now();
    let rt = catch_unwind(AssertUnwindSafe(|| rt_decode(block, len).ok()));
    let took = start.elapsed();
    prop_assert!(took < SLOW, "{took:?} to decode {block:?}");
    let Ok(rt) = rt else {
        return Err(TestCaseError::fail(format!(
            "the decoder panics on {block:?}"
        )));
    };
    prop_assert_eq!(&rt, &compress::decompress(block, len).ok());
    Ok(rt)
}

/// Compresses `data` as every kind: each block decodes to `data` with both decoders.
fn round_trips(data: &[u8]) -> Result<(), TestCaseError> {
    for kind in KINDS {
        let block = compress_kind(data, kind);
        let decoded = cross_check(&block, data.len())?;
        prop_assert_eq!(decoded.as_deref(), Some(data), "{:?}", kind);
    }
    Ok(())
}

/// Zigzag LEB128 bytes of `values`, as the compiler writes biases and zero points.
fn encode_ints(values: &[i32]) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in values {
        let mut z = ((v << 1) ^ (v >> 31)) as u32;
        while z >= 0x80 {
            out.push(z as u8 | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    out
}

fn requant_bytes(records: &[(i32, i8)]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|&(m, s)| m.to_le_bytes().into_iter().chain([s as u8]))
        .collect()
}

/// int8 weight blocks: dense, peaked, sparse, on low-bit grids, constant, tiny.
fn int8_block() -> impl Strategy<Value = Vec<u8>> {
    let low_bit = (1u32..8).prop_flat_map(|bits| {
        let max = ((1i8 << (bits - 1)) - 1).max(1);
        proptest::collection::vec(-max..=max, 1..3000)
    });
    prop_oneof![
        proptest::collection::vec(any::<i8>(), 0..3000),
        proptest::collection::vec(prop_oneof![6 => -6i8..6, 1 => any::<i8>()], 1..3000),
        proptest::collection::vec(
            prop_oneof![6 => Just(0i8), 1 => -7i8..=7, 1 => any::<i8>()],
            1..3000
        ),
        low_bit,
        (any::<i8>(), 1usize..5000).prop_map(|(v, n)| vec![v; n]),
        proptest::collection::vec(any::<i8>(), 0..=3),
    ]
    .prop_map(|v| v.into_iter().map(|x| x as u8).collect())
}

fn ints() -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec(
        prop_oneof![
            4 => -300i32..300,
            1 => any::<i32>(),
            1 => Just(i32::MIN),
            1 => Just(i32::MAX),
        ],
        0..500,
    )
}

fn records() -> impl Strategy<Value = Vec<(i32, i8)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                3 => 0x4000_0000i32..i32::MAX,
                1 => any::<i32>(),
                1 => (any::<i32>(), 0u32..31).prop_map(|(m, t)| m >> t << t),
                1 => Just(i32::MIN),
                1 => Just(0),
            ],
            prop_oneof![3 => -9i8..-7, 1 => any::<i8>()],
        ),
        0..400,
    )
}

proptest! {
    #[test]
    fn int8_blocks_decode(data in int8_block()) {
        round_trips(&data)?;
    }

    #[test]
    fn leb128_blocks_decode(values in ints()) {
        let data = encode_ints(&values);
        round_trips(&data)?;
        let mut decoded = vec![0; values.len()];
        prop_assert_eq!(decode_ints(&data, &mut decoded), Ok(()));
        prop_assert_eq!(decoded, values);
    }

    #[test]
    fn requant_blocks_decode(recs in records()) {
        let data = requant_bytes(&recs);
        round_trips(&data)?;
        for (i, &(m, s)) in recs.iter().enumerate() {
            prop_assert_eq!(requant_record(&data, i), Some((m, i32::from(s))));
        }
        prop_assert_eq!(requant_record(&data, recs.len()), None);
    }

    #[test]
    fn f32_blocks_decode(
        v in proptest::collection::vec(
            prop_oneof![3 => 1e-4f32..1e-1, 1 => -1e3f32..1e3, 1 => any::<f32>()],
            0..400,
        ),
    ) {
        let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        round_trips(&data)?;
    }

    /// Random blocks of every method byte (and one past them), decoded as blocks of any
    /// length.
    #[test]
    fn random_blocks_decode_or_fail_quickly(
        method in 0u8..8,
        body in proptest::collection::vec(any::<u8>(), 0..300),
        len in 0usize..3000,
    ) {
        let block: Vec<u8> = [method].into_iter().chain(body).collect();
        cross_check(&block, len)?;
    }
}

/// A block of every method (a few hundred bytes each) and its decoded length.
fn blocks_of_every_method() -> Vec<(Vec<u8>, usize)> {
    let mut x = 0x2545_f491u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    // Peaked weights with outliers, few zeros (adaptive int8 beats a 256-entry table).
    let peaked: Vec<u8> = (0..700)
        .map(|i| {
            let r = next();
            let v = if i % 97 == 0 { 100 } else { (r % 6 + 1) as i8 };
            (if r & 0x100 == 0 { v } else { -v }) as u8
        })
        .collect();
    let sparse: Vec<u8> = (0..1500)
        .map(|_| {
            let r = next();
            if r % 4 == 0 {
                ((r >> 8) % 15) as u8 + 1
            } else {
                0
            }
        })
        .collect();
    let small_ints: Vec<i32> = (0..300).map(|_| (next() % 41) as i32 - 20).collect();
    let recs: Vec<(i32, i8)> = (0..100)
        .map(|_| (0x4000_0000 | (next() >> 2 & 0x00ff_ff00) as i32, -8))
        .collect();
    let random: Vec<u8> = (0..200).map(|_| next() as u8).collect();
    // Not a whole number of f32 values: coded as one plane.
    let skewed: Vec<u8> = (0..1001).map(|_| (next() % 7) as u8).collect();
    let scales: Vec<u8> = (0..150)
        .map(|_| (0.002 + f64::from(next() % 1000) * 1e-6) as f32)
        .flat_map(f32::to_le_bytes)
        .collect();
    let blocks = [
        (random, Kind::Int8),
        (skewed, Kind::F32),
        (scales, Kind::F32),
        (peaked, Kind::Int8),
        (sparse, Kind::Int8),
        (encode_ints(&small_ints), Kind::Leb128),
        (requant_bytes(&recs), Kind::Requant),
    ];
    blocks
        .into_iter()
        .map(|(data, kind)| (compress_kind(&data, kind), data.len()))
        .collect()
}

#[test]
fn the_corpus_covers_every_method() {
    let mut methods: Vec<u8> = blocks_of_every_method()
        .iter()
        .map(|(block, _)| block[0])
        .collect();
    methods.sort_unstable();
    methods.dedup();
    assert_eq!(methods, [0, 1, 2, 3, 4, 5, 6]);
}

/// Every truncation and every single bit flip of a block of each method: the same result
/// from both decoders, quickly.
#[test]
fn truncated_and_flipped_blocks_decode_or_fail_quickly() {
    for (block, len) in blocks_of_every_method() {
        for end in 0..block.len() {
            cross_check(&block[..end], len).unwrap();
        }
        for bit in 0..8 * block.len() {
            let mut bad = block.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            cross_check(&bad, len).unwrap();
        }
    }
}

/// A short range-coded stream may decode to an output of any length (words past its end
/// read as zeros): the loader bounds the declared lengths (`MAX_PROGRAM_BYTES`, 64 MiB),
/// and decoding that much takes seconds, not minutes.
#[test]
fn short_adaptive_streams_decode_the_largest_outputs_in_seconds() {
    let mut out = vec![0u8; 16 << 20];
    for method in [3u8, 4, 5, 6] {
        for body in [&[][..], &[0x80], &[1, 2, 3, 4, 5]] {
            let block: Vec<u8> = [method].into_iter().chain(body.iter().copied()).collect();
            let start = Instant::now();
            let _ = decompress(&block, &mut out);
            assert!(start.elapsed() < Duration::from_secs(10), "{block:?}");
        }
    }
}

/// A hostile block cannot make a decoder take longer than its output's length.
#[test]
fn large_outputs_of_hostile_blocks_take_linear_time() {
    let mut out = vec![0u8; 1 << 20];
    for (block, _) in blocks_of_every_method() {
        for end in [1, 2, 3, block.len() / 2, block.len()] {
            let start = Instant::now();
            let _ = decompress(&block[..end], &mut out);
            // About 20 ns a byte in a debug build.
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "method {}",
                block[0]
            );
        }
    }
}

#[test]
fn malformed_blocks_are_errors() {
    let err = |block: &[u8], len: usize| {
        assert!(rt_decode(block, len).is_err(), "{block:?}");
        assert!(compress::decompress(block, len).is_err(), "{block:?}");
    };
    err(&[], 0);
    err(&[7], 0);
    err(&[9, 1, 2], 2);
    err(&[0, 1], 2);
    err(&[0, 1, 2, 3], 2);
    // rANS: empty range, frequencies not summing to 4096, a zero last word, an odd word
    // byte, a stream left over.
    err(&[1, 5, 5, 0], 1);
    err(&[1, 0, 1, 0x80, 0x10, 0x7f], 1);
    err(&[1, 0, 1, 0xfe, 0x1f, 0, 0, 0], 1);
    err(&[1, 0, 1, 0xfe, 0x1f, 0, 1], 1);
    err(&[1, 0, 1, 0xfe, 0x1f, 0, 5, 0], 1);
    // Planar: record size 1, 5 not dividing 10, a plane's length past the end, a nested
    // planar stream, trailing bytes.
    err(&[2, 1], 3);
    err(&[2, 5, 0], 10);
    err(&[2, 2, 9, 0, 1], 2);
    err(&[2, 2, 2, 2, 2], 4);
    err(&[2, 2, 2, 0, 1, 2, 0, 2, 9], 2);
    // Adaptive: a requantization block of 7 bytes, a sparse width of 8 bits, data after
    // the stream, a zero byte ending it.
    err(&[5], 7);
    err(&[6, 8, 0, 0, 0, 0], 3);
    err(&[3, 7, 0], 10);
    err(&[6, 0, 0x40, 0], 1);
    // The smallest blocks that decode.
    assert_eq!(rt_decode(&[0], 0), Ok(vec![]));
    assert_eq!(rt_decode(&[2, 2, 2, 0, 1, 2, 0, 2], 2), Ok(vec![1, 2]));
    assert_eq!(rt_decode(&[1, 3, 4, 0xfe, 0x1f, 0], 0), Ok(vec![]));
    assert_eq!(rt_decode(&[1, 3, 4, 0xfe, 0x1f, 0], 3), Ok(vec![3; 3]));
}

/// A frequency of 2^32 - 1 (LEB128 `ff ff ff ff 0f`) would overflow a naive `f + 1`
/// (a panic with overflow checks); it is an error.
#[test]
fn a_huge_frequency_is_an_error() {
    let block = [1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0x0f, 1, 0];
    assert!(rt_decode(&block, 4).is_err());
}

#[test]
fn ints_decode_as_the_compiler_reads_them() {
    let ints = |bytes: &[u8], n: usize| {
        let mut out = vec![0; n];
        decode_ints(bytes, &mut out).map(|()| out)
    };
    assert_eq!(ints(&[], 0), Ok(vec![]));
    assert_eq!(
        ints(&[0, 1, 2, 0x7f, 0x80, 0x01], 5),
        Ok(vec![0, -1, 1, -64, 64])
    );
    assert_eq!(ints(&[0xfe, 0xff, 0xff, 0xff, 0x0f], 1), Ok(vec![i32::MAX]));
    assert_eq!(ints(&[0xff, 0xff, 0xff, 0xff, 0x0f], 1), Ok(vec![i32::MIN]));
    // A fifth byte's bits past the 32nd are dropped.
    assert_eq!(ints(&[0xff, 0xff, 0xff, 0xff, 0x7f], 1), Ok(vec![i32::MIN]));
    assert_eq!(ints(&[0x82, 0x80, 0x80, 0x80, 0x70], 1), Ok(vec![1]));
    // A sixth byte, an early end, trailing bytes, a missing number.
    assert!(ints(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 1).is_err());
    assert!(ints(&[0x80], 1).is_err());
    assert!(ints(&[0, 0], 1).is_err());
    assert!(ints(&[0], 2).is_err());
    assert!(ints(&[0], 0).is_err());
}

#[test]
fn requant_records_need_whole_records() {
    let data = requant_bytes(&[(0x4000_0000, -8), (-5, 127)]);
    assert_eq!(requant_record(&data, 0), Some((0x4000_0000, -8)));
    assert_eq!(requant_record(&data, 1), Some((-5, 127)));
    assert_eq!(requant_record(&data, 2), None);
    assert_eq!(requant_record(&data, usize::MAX), None);
    assert_eq!(requant_record(&data[..9], 0), None);
    assert_eq!(requant_record(&[], 0), None);
}

/// Every part of every weight block of a real model (hello_world, read from a format 1.2
/// binary and coded again by the current encoder).
#[test]
fn real_model_weight_blocks_decode() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/hello_world_int8_format_1_2.npub"
    );
    let (program, _) = binary::read(&std::fs::read(path).unwrap()).unwrap();
    let coded = compress_weights(&program).unwrap();
    assert!(!coded.blocks.is_empty());
    for (w, block) in program.weights.iter().zip(&coded.blocks) {
        let parts: Vec<Vec<u8>> = block
            .all_parts()
            .into_iter()
            .map(|(c, len)| {
                let d = rt_decode(c, *len).unwrap();
                assert_eq!(compress::decompress(c, *len).unwrap(), d);
                d
            })
            .collect();
        let weights: Vec<u8> = w.weights.iter().map(|&v| v as u8).collect();
        assert_eq!(parts[0], weights);
        let mut ints = vec![0; w.channels()];
        decode_ints(&parts[1], &mut ints).unwrap();
        assert_eq!(ints, w.weight_zero_points);
        decode_ints(&parts[2], &mut ints).unwrap();
        assert_eq!(ints, w.bias);
        for (i, r) in w.requant.iter().enumerate() {
            assert_eq!(requant_record(&parts[3], i), Some((r.multiplier, r.shift)));
        }
    }
}
