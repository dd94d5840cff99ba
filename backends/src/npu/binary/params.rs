//! Byte forms of a weight block's per-channel parameters (before compression): zigzag
//! LEB128 numbers for biases and zero points, `(i32 LE multiplier, i8 shift)` for
//! requantization.

use crate::npu::program::Requant;
use nnopt_compiler::{Error, Result};

/// Bytes of one channel's requantization parameters in [`encode_requant`]'s form.
pub const REQUANT_BYTES: usize = crate::npu::compress::REQUANT_RECORD;

/// Zigzag LEB128 encoding of `values`.
pub fn encode_ints(values: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len());
    for &v in values {
        let mut z = ((v << 1) ^ (v >> 31)) as u32;
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// Decodes exactly `count` numbers from [`encode_ints`] bytes (with the firmware
/// runtime's decoder).
pub fn decode_ints(bytes: &[u8], count: usize) -> Result<Vec<i32>> {
    let mut out = vec![0; count];
    nnopt_rt::decode::decode_ints(bytes, &mut out).map_err(|e| Error::new(e.to_string()))?;
    Ok(out)
}

/// Bytes of requantization parameters.
pub fn encode_requant(values: &[Requant]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(values.len() * REQUANT_BYTES);
    for r in values {
        let shift = i8::try_from(r.shift)
            .map_err(|_| Error::new(format!("requantization shift {} out of range", r.shift)))?;
        out.extend_from_slice(&r.multiplier.to_le_bytes());
        out.push(shift as u8);
    }
    Ok(out)
}

/// Decodes [`encode_requant`] bytes.
pub fn decode_requant(bytes: &[u8]) -> Result<Vec<Requant>> {
    if !bytes.len().is_multiple_of(REQUANT_BYTES) {
        return Err(Error::new(format!(
            "requantization block of {} bytes is not a whole number of 5-byte entries",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(REQUANT_BYTES)
        .map(|c| Requant {
            multiplier: i32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            shift: i32::from(c[4] as i8),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ints_round_trip(v in proptest::collection::vec(any::<i32>(), 0..100)) {
            prop_assert_eq!(decode_ints(&encode_ints(&v), v.len()).unwrap(), v);
        }

        #[test]
        fn requant_round_trips(v in proptest::collection::vec((any::<i32>(), -31i32..31), 0..50)) {
            let r: Vec<Requant> = v.iter().map(|&(multiplier, shift)| Requant { multiplier, shift }).collect();
            prop_assert_eq!(decode_requant(&encode_requant(&r).unwrap()).unwrap(), r);
        }
    }

    #[test]
    fn small_numbers_take_one_byte() {
        assert_eq!(encode_ints(&[0, -1, 1, 63, -64]).len(), 5);
        assert!(decode_ints(&[0x80], 1).is_err());
        assert!(decode_ints(&[0, 0], 1).is_err());
        assert!(decode_requant(&[1, 2, 3]).is_err());
    }
}
