//! The `.npub` file: a checksummed header around a FlatBuffer (`schemas/npu.fbs`) that
//! holds a [`Program`](super::program::Program) with losslessly compressed weights.

#[allow(
    dead_code,
    unused_imports,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    deprecated,
    unsafe_op_in_unsafe_fn,
    mismatched_lifetime_syntaxes,
    clippy::all,
    clippy::pedantic
)]
#[rustfmt::skip]
mod npu_generated;
pub(crate) mod params;
mod read;
mod validate;
mod write;

use nnopt_compiler::{Error, Result};
use npu_generated::nnopt::npu::fb;

pub use read::read;
pub use validate::validate;
pub use write::{write, BlockStats};

/// File magic.
pub const MAGIC: &[u8; 4] = b"NPUB";
/// Format major version: a loader rejects files of another major version.
pub const FORMAT_MAJOR: u16 = 1;
/// Format minor version (backward-compatible additions).
pub const FORMAT_MINOR: u16 = 3;
/// Header size in bytes.
pub const HEADER_LEN: usize = 20;

/// What a binary says about the target it was compiled for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetInfo {
    pub name: String,
    pub int8_macs_per_cycle: u64,
    /// FP8 MACs per cycle (0 in binaries older than format 1.3).
    pub fp8_macs_per_cycle: u64,
    pub sram_bytes: u64,
}

/// Prefixes `payload` with the header (magic, version, length, CRC-32).
fn with_header(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_MAJOR.to_le_bytes());
    out.extend_from_slice(&FORMAT_MINOR.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let crc = checksum(&out, payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// CRC-32 of the header's first 12 bytes (magic, versions, length) and the payload, so a
/// flipped bit anywhere is caught.
fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..12]);
    h.update(payload);
    h.finalize()
}

/// Checks the header and returns the payload.
fn payload(file: &[u8]) -> Result<&[u8]> {
    if file.len() < HEADER_LEN {
        return Err(Error::new(format!(
            "not an NPU binary: {} bytes, shorter than the {HEADER_LEN}-byte header",
            file.len()
        )));
    }
    if &file[..4] != MAGIC {
        return Err(Error::new(
            "not an NPU binary: bad magic (expected \"NPUB\")",
        ));
    }
    let u16_at = |i: usize| u16::from_le_bytes([file[i], file[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([file[i], file[i + 1], file[i + 2], file[i + 3]]);
    let (major, minor) = (u16_at(4), u16_at(6));
    if major != FORMAT_MAJOR {
        return Err(Error::new(format!(
            "NPU binary format {major}.{minor} is not supported (this nnopt reads {FORMAT_MAJOR}.x)"
        )));
    }
    if u32_at(16) != 0 {
        return Err(Error::new(
            "NPU binary is corrupt: reserved header bytes are not zero",
        ));
    }
    let len = u32_at(8) as usize;
    let body = &file[HEADER_LEN..];
    if body.len() != len {
        return Err(Error::new(format!(
            "NPU binary is truncated or padded: payload has {} bytes, the header says {len}",
            body.len()
        )));
    }
    let (want, got) = (u32_at(12), checksum(file, body));
    if want != got {
        return Err(Error::new(format!(
            "NPU binary is corrupt: CRC-32 is {got:08x}, the header says {want:08x}"
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejections() {
        let file = with_header(b"payload");
        assert_eq!(payload(&file).unwrap(), b"payload");
        let err = |f: &[u8]| payload(f).unwrap_err().to_string();
        assert!(err(&file[..10]).contains("shorter"));
        assert!(err(&file[..file.len() - 1]).contains("truncated"));
        let mut bad = file.clone();
        bad[0] = b'X';
        assert!(err(&bad).contains("magic"));
        let mut bad = file.clone();
        bad[4] = 9;
        assert!(err(&bad).contains("not supported"));
        let mut bad = file.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(err(&bad).contains("CRC"));
        let mut bad = file.clone();
        bad[17] = 1;
        assert!(err(&bad).contains("reserved"));
    }
}
