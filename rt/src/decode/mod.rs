//! Decoding of compressed weight blocks, bit-exact with the compiler's
//! `nnopt_backends::npu::compress::decompress`, without allocation, and of the
//! per-channel parameters they hold.
//!
//! Block stream: one method byte, then
//! - `STORED` (0): the bytes;
//! - `RANS` (1): see `rans.rs`;
//! - `PLANAR` (2): the record size `k` (>= 2, dividing the block length); per byte
//!   position `p < k` (the plane of bytes `p, p + k, ...`), the LEB128 length of the
//!   plane's stream and that stream (`STORED` or `RANS`);
//! - `ADAPTIVE_INT8` (3), `ADAPTIVE_LEB128` (4), `ADAPTIVE_REQUANT` (5): see `typed.rs`;
//! - `ADAPTIVE_SPARSE` (6): see `sparse.rs`.
//!
//! Every loop is bounded by the output or the input length, every index and sum is
//! checked: a hostile block gives an error or some bytes, quickly.
//!
//! Stack: the decoders' tables take at most 2.5 KB, the contexts of requantization
//! records (LEB128 numbers 0.75 KB, sparse weights 0.55 KB, the rANS table 514 bytes,
//! int8 weights 0.3 KB), plus a few hundred bytes of frames.

mod params;
mod range;
mod rans;
mod sparse;
mod typed;
mod uint;

pub use params::{decode_ints, requant_record};

use crate::{Error, Result};

const STORED: u8 = 0;
const RANS: u8 = 1;
const PLANAR: u8 = 2;
const ADAPTIVE_INT8: u8 = 3;
const ADAPTIVE_LEB128: u8 = 4;
const ADAPTIVE_REQUANT: u8 = 5;
const ADAPTIVE_SPARSE: u8 = 6;

fn truncated() -> Error {
    Error::malformed("truncated compressed block")
}

/// Decodes a compressed block into `out` (its length is the declared decoded size).
pub fn decompress(block: &[u8], out: &mut [u8]) -> Result<()> {
    match block.split_first() {
        Some((&PLANAR, body)) => planar(body, out),
        Some((&ADAPTIVE_INT8, body)) => typed::decode_int8(body, out),
        Some((&ADAPTIVE_LEB128, body)) => typed::decode_leb128(body, out),
        Some((&ADAPTIVE_REQUANT, body)) => typed::decode_requant(body, out),
        Some((&ADAPTIVE_SPARSE, body)) => sparse::decode(body, out),
        _ => plain(block, out.iter_mut()),
    }
}

/// Decodes a `STORED` or `RANS` stream into the bytes of `out`.
fn plain<'a>(block: &[u8], out: impl ExactSizeIterator<Item = &'a mut u8>) -> Result<()> {
    let (&method, body) = block
        .split_first()
        .ok_or(Error::malformed("empty compressed block"))?;
    match method {
        STORED if body.len() == out.len() => {
            out.zip(body).for_each(|(dst, &b)| *dst = b);
            Ok(())
        }
        STORED => Err(Error::malformed(
            "stored block does not hold its declared size",
        )),
        RANS => rans::decode(body, out),
        _ => Err(Error::malformed("unknown block compression method")),
    }
}

/// Decodes a `PLANAR` stream (after its method byte).
fn planar(body: &[u8], out: &mut [u8]) -> Result<()> {
    let (&k, mut rest) = body.split_first().ok_or_else(truncated)?;
    let k = usize::from(k);
    if k < 2 || !out.len().is_multiple_of(k) {
        return Err(Error::malformed(
            "record size of a planar block does not divide its length",
        ));
    }
    for p in 0..k {
        let mut pos = 0;
        let n = read_leb128(rest, &mut pos).ok_or_else(truncated)?;
        let (stream, tail) = usize::try_from(n)
            .ok()
            .and_then(|n| rest[pos..].split_at_checked(n))
            .ok_or_else(truncated)?;
        plain(stream, out.iter_mut().skip(p).step_by(k))?;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(Error::malformed("compressed block has trailing data"));
    }
    Ok(())
}

/// Reads a LEB128 number of at most 5 bytes at `pos` (bits past 32 dropped) and moves
/// `pos` past it.
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
