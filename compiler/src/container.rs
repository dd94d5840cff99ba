//! The shared container format of nnopt's binary files (`.npub` NPU binaries, `.ntp`
//! training programs, federated-learning messages): a 20-byte header before a FlatBuffer
//! payload.
//!
//! ```text
//! offset 0   4 bytes  magic
//! offset 4   u16 LE   format major version (a loader rejects other majors)
//! offset 6   u16 LE   format minor version (additions only)
//! offset 8   u32 LE   payload length in bytes
//! offset 12  u32 LE   CRC-32 (IEEE) of header bytes 0..12, then the payload
//! offset 16  u32 LE   reserved, must be 0
//! ```

use crate::{Error, Result};

/// Header size in bytes.
pub const HEADER_LEN: usize = 20;

/// One kind of file: its magic (also the payload's FlatBuffer file identifier), the
/// format version it writes, and its name in errors.
#[derive(Clone, Copy, Debug)]
pub struct Container {
    pub magic: &'static [u8; 4],
    pub major: u16,
    pub minor: u16,
    /// The file kind as errors name it, e.g. `NPU binary`.
    pub kind: &'static str,
    /// The same with its article, e.g. `an NPU binary`.
    pub a_kind: &'static str,
}

impl Container {
    /// Prefixes `payload` with the header (magic, version, length, CRC-32).
    pub fn wrap(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(self.magic);
        out.extend_from_slice(&self.major.to_le_bytes());
        out.extend_from_slice(&self.minor.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        let crc = checksum(&out, payload);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Checks the header (magic, major version, reserved bytes, length, CRC) and the
    /// payload's file identifier, and returns the payload.
    pub fn open<'a>(&self, file: &'a [u8]) -> Result<&'a [u8]> {
        Ok(self.open_since(file, self.major)?.0)
    }

    /// As [`Container::open`], accepting major versions from `oldest` to this one;
    /// returns the payload and the file's major version.
    pub fn open_since<'a>(&self, file: &'a [u8], oldest: u16) -> Result<(&'a [u8], u16)> {
        let (kind, a_kind) = (self.kind, self.a_kind);
        if file.len() < HEADER_LEN {
            return Err(Error::new(format!(
                "not {a_kind}: {} bytes, shorter than the {HEADER_LEN}-byte header",
                file.len()
            )));
        }
        if &file[..4] != self.magic {
            return Err(Error::new(format!(
                "not {a_kind}: bad magic (expected \"{}\")",
                String::from_utf8_lossy(self.magic)
            )));
        }
        let u16_at = |i: usize| u16::from_le_bytes([file[i], file[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([file[i], file[i + 1], file[i + 2], file[i + 3]]);
        let (major, minor) = (u16_at(4), u16_at(6));
        if !(oldest..=self.major).contains(&major) {
            let reads = match oldest == self.major {
                true => format!("{}.x", self.major),
                false => format!("{oldest}.x to {}.x", self.major),
            };
            return Err(Error::new(format!(
                "{kind} format {major}.{minor} is not supported (this nnopt reads {reads})"
            )));
        }
        if u32_at(16) != 0 {
            return Err(Error::new(format!(
                "{kind} is corrupt: reserved header bytes are not zero"
            )));
        }
        let len = u32_at(8) as usize;
        let body = &file[HEADER_LEN..];
        if body.len() != len {
            return Err(Error::new(format!(
                "{kind} is truncated or padded: payload has {} bytes, the header says {len}",
                body.len()
            )));
        }
        let (want, got) = (u32_at(12), checksum(file, body));
        if want != got {
            return Err(Error::new(format!(
                "{kind} is corrupt: CRC-32 is {got:08x}, the header says {want:08x}"
            )));
        }
        if body.get(4..8) != Some(self.magic.as_slice()) {
            return Err(Error::new(format!(
                "{kind} payload lacks the \"{}\" identifier",
                String::from_utf8_lossy(self.magic)
            )));
        }
        Ok((body, major))
    }
}

/// CRC-32 of the header's first 12 bytes (magic, versions, length) and the payload, so a
/// flipped bit anywhere is caught.
fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..12]);
    h.update(payload);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Container = Container {
        magic: b"TEST",
        major: 2,
        minor: 5,
        kind: "test file",
        a_kind: "a test file",
    };

    #[test]
    fn header_layout() {
        let file = TEST.wrap(b"abcdTEST");
        assert_eq!(&file[..4], b"TEST");
        assert_eq!(&file[4..8], &[2, 0, 5, 0]);
        assert_eq!(&file[8..12], &8u32.to_le_bytes());
        assert_eq!(&file[16..], b"\0\0\0\0abcdTEST");
        let short = TEST.wrap(b"abc");
        let err = TEST.open(&short).unwrap_err().to_string();
        assert!(
            err.contains("payload lacks the \"TEST\" identifier"),
            "{err}"
        );
    }

    #[test]
    fn round_trip_and_rejections() {
        let file = TEST.wrap(b"\0\0\0\0TEST body");
        assert_eq!(TEST.open(&file).unwrap(), b"\0\0\0\0TEST body");
        let err = |f: &[u8]| TEST.open(f).unwrap_err().to_string();
        assert!(err(&file[..10]).contains("not a test file: 10 bytes, shorter"));
        assert!(err(&file[..file.len() - 1]).contains("test file is truncated"));
        let mut bad = file.clone();
        bad[0] = b'X';
        assert!(err(&bad).contains("bad magic (expected \"TEST\")"));
        let mut bad = file.clone();
        bad[4] = 9;
        assert!(err(&bad).contains("test file format 9.5 is not supported"));
        let mut bad = file.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(err(&bad).contains("CRC"));
        let mut bad = file.clone();
        bad[17] = 1;
        assert!(err(&bad).contains("reserved"));
        for i in 0..file.len() * 8 {
            let mut bad = file.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(TEST.open(&bad).is_err(), "flip of bit {i} accepted");
        }
    }
}
