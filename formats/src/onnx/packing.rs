//! ONNX's packing of 4- and 2-bit element types, several to a byte, lowest bits first
//! (an odd tail is padded with zero bits).

use nnopt_compiler::ir::DType;

/// Bits per element of the types ONNX packs several to a byte.
pub fn packed_bits(dtype: DType) -> Option<u32> {
    match dtype {
        DType::I4 | DType::U4 | DType::F4E2M1 => Some(4),
        DType::I2 | DType::U2 => Some(2),
        _ => None,
    }
}

/// `n` elements of `bits` bits each from packed bytes, lowest bits first.
pub fn unpack(bytes: &[u8], bits: u32, n: usize) -> Result<Vec<u8>, String> {
    let per_byte = (8 / bits) as usize;
    if bytes.len() != n.div_ceil(per_byte) {
        return Err(format!(
            "{} bytes of packed {bits}-bit data, {} expected",
            bytes.len(),
            n.div_ceil(per_byte)
        ));
    }
    let mask = (1u8 << bits) - 1;
    Ok((0..n)
        .map(|i| (bytes[i / per_byte] >> ((i % per_byte) as u32 * bits)) & mask)
        .collect())
}

/// The packed form of `codes` (each within `bits` bits), lowest bits first.
pub fn pack(codes: &[u8], bits: u32) -> Vec<u8> {
    let per_byte = (8 / bits) as usize;
    let mask = (1u8 << bits) - 1;
    codes
        .chunks(per_byte)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (i, &v)| b | ((v & mask) << (i as u32 * bits)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_and_unpack_round_trip() {
        let codes = [1u8, 15, 7, 0, 9];
        let packed = pack(&codes, 4);
        assert_eq!(packed, [0xf1, 0x07, 0x09]);
        assert_eq!(unpack(&packed, 4, 5).unwrap(), codes);
        let two = [3u8, 0, 1, 2, 1];
        assert_eq!(pack(&two, 2), [0b1001_0011, 0b01]);
        assert_eq!(unpack(&pack(&two, 2), 2, 5).unwrap(), two);
        assert!(unpack(&packed, 4, 7).is_err());
    }
}
