//! Carving typed, aligned regions out of the caller's scratch bytes.

use crate::error::{Error, ErrorKind, Result};

/// Slack bytes a region of i32 may need for alignment.
pub const I32_SLACK: usize = 3;

const TOO_SMALL: Error = Error::new(ErrorKind::ArenaTooSmall, "arena too small for the scratch");

/// Splits `n` bytes off the front of `buf`.
pub fn take_bytes(buf: &mut [u8], n: usize) -> Result<(&mut [u8], &mut [u8])> {
    if n > buf.len() {
        return Err(TOO_SMALL);
    }
    Ok(buf.split_at_mut(n))
}

/// Splits an aligned region of `n` i32 off the front of `buf` (using up to
/// [`I32_SLACK`] bytes of padding).
pub fn take_i32(buf: &mut [u8], n: usize) -> Result<(&mut [i32], &mut [u8])> {
    let pad = buf.as_ptr().align_offset(core::mem::align_of::<i32>());
    let bytes = n
        .checked_mul(4)
        .and_then(|b| b.checked_add(pad))
        .ok_or(TOO_SMALL)?;
    let (region, rest) = take_bytes(buf, bytes)?;
    // SAFETY: every bit pattern is a valid i32; `align_to_mut` only returns the
    // correctly aligned middle part, which after `pad` bytes covers exactly `n` values.
    let (_, ints, _) = unsafe { region[pad..].align_to_mut::<i32>() };
    Ok((ints, rest))
}
