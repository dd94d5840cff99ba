//! The `.npub` file: a checksummed header around a FlatBuffer (`schemas/npu.fbs`) that
//! holds a [`Program`](super::program::Program) with losslessly compressed weights.

nnopt_compiler::flatbuffers_module!(npu_generated);
pub(crate) mod params;
mod read;
mod validate;
mod write;

use nnopt_compiler::container::Container;
use npu_generated::nnopt::npu::fb;

pub use read::read;
pub use validate::validate;
pub use write::write;

/// File magic.
pub const MAGIC: &[u8; 4] = b"NPUB";
/// Format major version: a loader rejects files of another major version.
pub const FORMAT_MAJOR: u16 = 1;
/// Format minor version (backward-compatible additions).
pub const FORMAT_MINOR: u16 = 6;
/// The most memory a program may take: its arena and its decoded weights together,
/// 64 MiB (an NPU's SRAM and flash hold a few MB; ResNet-50's int8 weights are 25 MB).
/// The writer and the loader check it before anything is allocated, which also bounds
/// the time a hostile binary can make the decoders take.
pub const MAX_PROGRAM_BYTES: usize = 64 << 20;
/// Header size in bytes.
pub const HEADER_LEN: usize = nnopt_compiler::container::HEADER_LEN;

/// What a binary says about the target it was compiled for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetInfo {
    pub name: String,
    pub int8_macs_per_cycle: u64,
    /// FP8 MACs per cycle (0 in binaries older than format 1.3).
    pub fp8_macs_per_cycle: u64,
    pub sram_bytes: u64,
}

/// The `.npub` header.
const CONTAINER: Container = Container {
    magic: MAGIC,
    major: FORMAT_MAJOR,
    minor: FORMAT_MINOR,
    kind: "NPU binary",
    a_kind: "an NPU binary",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_rejections() {
        let file = CONTAINER.wrap(b"\0\0\0\0NPUB");
        assert_eq!(CONTAINER.open(&file).unwrap(), b"\0\0\0\0NPUB");
        let err = |f: &[u8]| CONTAINER.open(f).unwrap_err().to_string();
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
