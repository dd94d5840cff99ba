//! The 20-byte header of nnopt's binary files (see `nnopt_compiler::container`): magic,
//! format version, payload length and a CRC-32 of the header and payload.

use crate::error::{Error, ErrorKind, Result};

/// Header size in bytes.
pub const HEADER_LEN: usize = 20;
/// Magic and FlatBuffer file identifier of `.npub` binaries.
pub const MAGIC: &[u8; 4] = b"NPUB";
/// The `.npub` format major version this runtime reads.
pub const FORMAT_MAJOR: u16 = 1;

/// Checks the header of a `.npub` file and returns its payload (the FlatBuffer).
pub fn open(file: &[u8]) -> Result<&[u8]> {
    if file.len() < HEADER_LEN || &file[..4] != MAGIC {
        return Err(Error::new(
            ErrorKind::NotABinary,
            "not an NPU binary: too short or bad magic",
        ));
    }
    let u32_at = |i: usize| u32::from_le_bytes([file[i], file[i + 1], file[i + 2], file[i + 3]]);
    if u16::from_le_bytes([file[4], file[5]]) != FORMAT_MAJOR {
        return Err(Error::new(
            ErrorKind::Version,
            "NPU binary of a format major version this runtime does not read",
        ));
    }
    if u32_at(16) != 0 {
        return Err(Error::new(
            ErrorKind::Corrupt,
            "NPU binary is corrupt: reserved header bytes are not zero",
        ));
    }
    let body = &file[HEADER_LEN..];
    if body.len() as u64 != u64::from(u32_at(8)) {
        return Err(Error::new(
            ErrorKind::Corrupt,
            "NPU binary is truncated or padded: its length differs from the header's",
        ));
    }
    let crc = crc32(crc32(!0, &file[..12]), body);
    if !crc != u32_at(12) {
        return Err(Error::new(
            ErrorKind::Corrupt,
            "NPU binary is corrupt: CRC-32 mismatch",
        ));
    }
    if body.get(4..8) != Some(MAGIC.as_slice()) {
        return Err(Error::new(
            ErrorKind::NotABinary,
            "NPU binary payload lacks the NPUB identifier",
        ));
    }
    Ok(body)
}

/// The CRC-32 (IEEE, reflected) lookup table.
const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Continues a CRC-32 register `crc` (start with `!0`, finish with `!`) over `bytes`.
fn crc32(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_check_string() {
        assert_eq!(!crc32(!0, b"123456789"), 0xCBF4_3926);
    }
}
