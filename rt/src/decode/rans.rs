//! The decoder of `RANS` streams: `constriction`'s `SmallAnsCoder` (16-bit words,
//! a 32-bit state) under a `SmallContiguousCategoricalEntropyModel` of 12-bit precision.
//!
//! Stream: the smallest and largest byte value `lo < hi`; per value in `lo..=hi` its
//! frequency minus one (LEB128), the frequencies (each >= 1) summing to 2^12; the words
//! (u16 LE), a stack: the last word is read first, and is nonzero.

use super::read_leb128;
use crate::{Error, Result};

/// Frequency precision (bits).
const PRECISION: u32 = 12;
const TOTAL: u32 = 1 << PRECISION;

fn corrupt() -> Error {
    Error::malformed("corrupt rANS stream in compressed block")
}

/// Decodes a stream (after its method byte) into `out`.
pub fn decode<'a>(body: &[u8], out: impl Iterator<Item = &'a mut u8>) -> Result<()> {
    let truncated = || Error::malformed("truncated compressed block");
    let (&lo, &hi) = (
        body.first().ok_or_else(truncated)?,
        body.get(1).ok_or_else(truncated)?,
    );
    if hi <= lo {
        return Err(Error::malformed("invalid value range in compressed block"));
    }
    let n = usize::from(hi - lo) + 1;
    // The left cumulative of each symbol, then 2^12.
    let mut cdf = [0u16; 257];
    let mut pos = 2;
    let mut sum = 0;
    for left in &mut cdf[..n] {
        let f = read_leb128(body, &mut pos).ok_or_else(truncated)?;
        *left = sum as u16;
        sum = f
            .checked_add(1)
            .map(|f| sum + f)
            .filter(|&s| s <= TOTAL)
            .ok_or(Error::malformed(
                "invalid frequency table in compressed block",
            ))?;
    }
    if sum != TOTAL {
        return Err(Error::malformed(
            "invalid frequency table in compressed block",
        ));
    }
    cdf[n] = TOTAL as u16;
    let cdf = &cdf[..=n];

    let rest = &body[pos..];
    if !rest.len().is_multiple_of(2) {
        return Err(truncated());
    }
    let mut words = rest
        .chunks_exact(2)
        .rev()
        .map(|w| u32::from(u16::from_le_bytes([w[0], w[1]])));
    let mut state = match words.next() {
        None => 0,
        Some(0) => return Err(corrupt()),
        Some(first) => words.next().map_or(first, |w| (first << 16) | w),
    };
    for dst in out {
        let quantile = state % TOTAL;
        // The symbol: the count of left cumulatives after the first at most `quantile`.
        let s = cdf[1..n].partition_point(|&c| u32::from(c) <= quantile);
        let (left, right) = (u32::from(cdf[s]), u32::from(cdf[s + 1]));
        // At most (2^20 - 1) * 2^12 + 2^12 - 1: no overflow.
        state = (state >> PRECISION) * (right - left) + (quantile - left);
        if state < 1 << 16 {
            if let Some(w) = words.next() {
                state = (state << 16) | w;
            }
        }
        // `s < n`: at most `hi`.
        *dst = lo + s as u8;
    }
    // Like `constriction`'s `is_empty`: words left under a zero state are not checked.
    if state != 0 {
        return Err(Error::malformed("compressed block has trailing data"));
    }
    Ok(())
}
