//! Errors: a kind (also the C API's error code), a fixed message and the index of the
//! command, tensor or block involved, so nothing needs an allocator.

use core::fmt;

/// What went wrong. The discriminants are the C API's negative error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ErrorKind {
    /// The bytes are not a `.npub` binary (size, magic, identifier).
    NotABinary = 1,
    /// A format major version this runtime does not read.
    Version = 2,
    /// The payload length or CRC-32 does not match the header.
    Corrupt = 3,
    /// The binary's structure is inconsistent: an offset, count, size or parameter out of
    /// range, or a compressed block that does not decode to its declared size.
    Malformed = 4,
    /// A valid binary that needs something this runtime does not have (FP8 commands,
    /// CPU-fallback segments).
    Unsupported = 5,
    /// The caller's arena is smaller than [`crate::Model::arena_size`].
    ArenaTooSmall = 6,
    /// An input or output buffer has the wrong size, or the wrong number of them was given.
    BadArgument = 7,
}

/// A runtime error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// A fixed description of the problem.
    pub message: &'static str,
    /// The command, tensor, binding or weight block the message is about, if any.
    pub index: Option<u32>,
}

impl Error {
    pub(crate) const fn new(kind: ErrorKind, message: &'static str) -> Self {
        Error {
            kind,
            message,
            index: None,
        }
    }

    /// A [`ErrorKind::Malformed`] error.
    pub(crate) const fn malformed(message: &'static str) -> Self {
        Error::new(ErrorKind::Malformed, message)
    }

    /// The same error about item `index` (kept if one is already set).
    pub(crate) fn at(mut self, index: usize) -> Self {
        if self.index.is_none() {
            self.index = Some(u32::try_from(index).unwrap_or(u32::MAX));
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{} (#{i})", self.message),
            None => f.write_str(self.message),
        }
    }
}

/// The runtime's result type.
pub type Result<T> = core::result::Result<T, Error>;
