//! nnopt's binary container (`.npub`, `.ntp`, FL messages; see
//! `compiler/src/container.rs`): a 20-byte header whose length and CRC-32 cover the
//! payload. Edits change the payload and reseal the header, so that mutants get past the
//! checksum to the readers' validation.

use super::{bytes, flatbuf, Rng};
use nnopt::compiler::container::HEADER_LEN;
use rand::RngExt;

/// Edits the payload of `file` (a FlatBuffer word or a byte-level edit, spliced with
/// `partner`'s payload) and reseals it; files shorter than a header get a byte-level
/// edit.
pub fn edit_payload(file: Vec<u8>, partner: &[u8], rng: &mut Rng) -> Vec<u8> {
    if file.len() < HEADER_LEN {
        return bytes::edit(file, partner, rng);
    }
    let mut payload = file[HEADER_LEN..].to_vec();
    if rng.random_bool(0.5) {
        flatbuf::edit(&mut payload, rng);
    } else {
        let partner = partner.get(HEADER_LEN..).unwrap_or_default();
        payload = bytes::edit(payload, partner, rng);
    }
    seal(&file[..HEADER_LEN], &payload)
}

/// `header` (magic, versions, reserved word kept) with the length and CRC-32 of
/// `payload`, then `payload`.
fn seal(header: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    out[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[..12]);
    crc.update(payload);
    out[12..16].copy_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt::train::message::{Message, MessageKind};

    #[test]
    fn sealed_payloads_pass_the_header_check() {
        let m = Message {
            kind: MessageKind::Broadcast,
            round: 1,
            client: 0,
            samples: 0,
            layout: 0,
            payloads: vec![],
        };
        let file = m.to_bytes();
        let resealed = seal(&file[..HEADER_LEN], &file[HEADER_LEN..]);
        assert_eq!(resealed, file);
    }
}
