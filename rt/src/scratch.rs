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

/// Plain integers, valid for every bit pattern.
pub trait Plain: Copy + Default {}
impl Plain for i16 {}
impl Plain for i32 {}
impl Plain for usize {}

/// Splits an aligned region of `n` i32 off the front of `buf` (using up to
/// [`I32_SLACK`] bytes of padding).
pub fn take_i32(buf: &mut [u8], n: usize) -> Result<(&mut [i32], &mut [u8])> {
    take(buf, n)
}

/// Splits an aligned region of `n` values of `T` off the front of `buf` (using up to
/// `align_of::<T>() - 1` bytes of padding).
pub fn take<T: Plain>(buf: &mut [u8], n: usize) -> Result<(&mut [T], &mut [u8])> {
    let size = core::mem::size_of::<T>();
    let pad = buf.as_ptr().align_offset(core::mem::align_of::<T>());
    let bytes = n
        .checked_mul(size)
        .and_then(|b| b.checked_add(pad))
        .ok_or(TOO_SMALL)?;
    let (region, rest) = take_bytes(buf, bytes)?;
    // SAFETY: `T` is a plain integer, valid for every bit pattern; `align_to_mut` only
    // returns the correctly aligned middle part, which after `pad` bytes covers exactly
    // `n` values.
    let (_, values, _) = unsafe { region[pad..].align_to_mut::<T>() };
    Ok((values, rest))
}
