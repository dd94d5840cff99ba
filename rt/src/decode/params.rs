//! Per-channel parameters in their decoded byte form: zigzag LEB128 numbers (biases and
//! zero points) and 5-byte requantization records (i32 LE multiplier, i8 shift).

use super::typed::RECORD;
use crate::{Error, Result};

/// Decodes `out.len()` zigzag-LEB128 numbers from `bytes` (all bytes must be used). A
/// number's fifth byte gives its top 4 bits (higher bits are ignored); a sixth byte is
/// an error.
pub fn decode_ints(bytes: &[u8], out: &mut [i32]) -> Result<()> {
    let mut it = bytes.iter();
    for dst in out {
        let mut z = 0u32;
        let mut shift = 0;
        loop {
            let &b = it
                .next()
                .ok_or(Error::malformed("parameter block ends early"))?;
            if shift > 28 {
                return Err(Error::malformed("parameter number longer than 32 bits"));
            }
            z |= u32::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        *dst = ((z >> 1) as i32) ^ -((z & 1) as i32);
    }
    if it.next().is_some() {
        return Err(Error::malformed("parameter block has trailing bytes"));
    }
    Ok(())
}

/// Reads requantization record `i` of decoded requant bytes: (multiplier, shift).
/// `None` if there is no record `i` or `bytes` is not a whole number of records.
pub fn requant_record(bytes: &[u8], i: usize) -> Option<(i32, i32)> {
    if !bytes.len().is_multiple_of(RECORD) {
        return None;
    }
    let r = bytes.chunks_exact(RECORD).nth(i)?;
    Some((
        i32::from_le_bytes([r[0], r[1], r[2], r[3]]),
        i32::from(r[4] as i8),
    ))
}
