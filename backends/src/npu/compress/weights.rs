//! The weight-compression stage: every weight block of a program, each part coded with
//! [`compress_kind`], and the blocks' raw and encoded sizes.

use super::{compress_kind, store, Kind, WeightCoding};
use crate::npu::binary::params;
use crate::npu::program::{Command, Program, WeightBlock};
use nnopt_compiler::ir::DType;
use nnopt_compiler::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A compressed part and its decoded length.
pub type Part = (Vec<u8>, usize);

/// A weight block's four parts (weights, zero points, biases, requantization),
/// compressed; FP8 blocks add their weight type and their scales and biases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressedBlock {
    pub parts: [Part; 4],
    pub fp8: Option<(DType, [Part; 2])>,
}

impl CompressedBlock {
    /// Every part, in file order.
    pub fn all_parts(&self) -> Vec<&Part> {
        let fp8_parts = self.fp8.as_ref().map_or(&[][..], |(_, p)| &p[..]);
        self.parts.iter().chain(fp8_parts).collect()
    }

    /// Bytes of the compressed parts.
    pub fn encoded_bytes(&self) -> usize {
        self.all_parts().iter().map(|(coded, _)| coded.len()).sum()
    }
}

/// Sizes of one weight block before and after compression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockStats {
    /// Name of the command that uses the block.
    pub layer: String,
    /// Raw bytes: int8 weights, plus 4 bytes of bias, 4 of zero point and 5 of
    /// requantization (multiplier and shift) per output channel; FP8 weights, plus a
    /// 4-byte scale and a 4-byte bias per output channel.
    pub raw_bytes: usize,
    /// Weight element type (`i8`, `f8e4m3`, `f8e5m2`).
    pub weight_type: &'static str,
    /// Bytes of the compressed parts in the file.
    pub encoded_bytes: usize,
}

/// A program's compressed weight blocks (in block order) and their sizes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressedWeights {
    pub blocks: Vec<CompressedBlock>,
    pub stats: Vec<BlockStats>,
}

/// Compresses every weight block of `p`.
pub fn compress_weights(p: &Program) -> Result<CompressedWeights> {
    compress_weights_coded(p, WeightCoding::Compressed)
}

/// Codes every weight block of `p`, the weights as `coding` says.
pub fn compress_weights_coded(p: &Program, coding: WeightCoding) -> Result<CompressedWeights> {
    let blocks = compress_blocks(&p.weights, coding)?;
    let owners = block_owners(p);
    let stats = p
        .weights
        .iter()
        .zip(&blocks)
        .zip(owners)
        .map(|((w, coded), layer)| {
            let per_channel = if w.fp8.is_some() { 4 + 4 } else { 4 + 4 + 5 };
            BlockStats {
                layer,
                raw_bytes: w.weights.len() + w.channels() * per_channel,
                weight_type: w.weight_type(),
                encoded_bytes: coded.encoded_bytes(),
            }
        })
        .collect();
    Ok(CompressedWeights { blocks, stats })
}

/// The name of the command using each weight block.
fn block_owners(p: &Program) -> Vec<String> {
    let mut owners = vec![String::new(); p.weights.len()];
    for c in &p.commands {
        let (name, w) = match c {
            Command::Conv2d(c) => (&c.name, c.weights),
            Command::FullyConnected(c) => (&c.name, c.weights),
            _ => continue,
        };
        if let Some(o) = owners.get_mut(w) {
            o.clone_from(name);
        }
    }
    owners
}

/// Compresses every block's parts on up to 4 threads, which take the blocks largest
/// first (each block's result depends on that block alone, so the output is the same).
fn compress_blocks(blocks: &[WeightBlock], coding: WeightCoding) -> Result<Vec<CompressedBlock>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let mut order: Vec<usize> = (0..blocks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(blocks[i].weights.len()));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<CompressedBlock>>> = Vec::new();
    results.resize_with(blocks.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        done.push((i, compress_block(&blocks[i], coding)));
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            // A panic in a worker is a bug; re-raise it on this thread.
            let done = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            for (i, r) in done {
                results[i] = Some(r);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::new("weight block not coded"))))
        .collect()
}

fn compress_block(w: &WeightBlock, coding: WeightCoding) -> Result<CompressedBlock> {
    let raw_weights: Vec<u8> = w.weights.iter().map(|&v| v as u8).collect();
    let parts = [
        (raw_weights, Kind::Int8),
        (params::encode_ints(&w.weight_zero_points), Kind::Leb128),
        (params::encode_ints(&w.bias), Kind::Leb128),
        (params::encode_requant(&w.requant)?, Kind::Requant),
    ];
    let code = |(raw, kind): (Vec<u8>, Kind)| {
        let coded = match (kind, coding) {
            (_, WeightCoding::Stored) => store(&raw),
            (_, WeightCoding::Compressed) => compress_kind(&raw, kind),
        };
        (coded, raw.len())
    };
    let f32_bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let fp8 = w.fp8.as_ref().map(|f| {
        (
            f.format.dtype(),
            [
                (f32_bytes(&f.scales), Kind::F32),
                (f32_bytes(&f.bias), Kind::F32),
            ]
            .map(code),
        )
    });
    Ok(CompressedBlock {
        parts: parts.map(code),
        fp8,
    })
}
