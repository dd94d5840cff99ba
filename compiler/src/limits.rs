//! How much a file may make nnopt allocate. A file that declares more (a tensor, an
//! arena, a decoded weight block) is an error before anything is allocated, so a hostile
//! or corrupt file cannot exhaust memory.

use crate::{Error, Result};

/// The largest buffer one tensor, NPU arena or decoded weight part may take: 1 GiB.
pub const MAX_BUFFER_BYTES: usize = 1 << 30;

/// The bytes of `elements` values of `element_bytes` each, checked against
/// [`MAX_BUFFER_BYTES`]; `what` names the buffer in the error.
pub fn buffer_bytes(elements: usize, element_bytes: usize, what: &str) -> Result<usize> {
    elements
        .checked_mul(element_bytes)
        .filter(|&n| n <= MAX_BUFFER_BYTES)
        .ok_or_else(|| too_large(what))
}

/// The number of elements of `shape`, its bytes at `element_bytes` each checked against
/// [`MAX_BUFFER_BYTES`] (also the product's overflow).
pub fn shape_elements(shape: &[usize], element_bytes: usize, what: &str) -> Result<usize> {
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| too_large(what))?;
    buffer_bytes(n, element_bytes.max(1), what)?;
    Ok(n)
}

fn too_large(what: &str) -> Error {
    Error::new(format!(
        "{what} is too large: more than the {} GiB limit of one buffer",
        MAX_BUFFER_BYTES >> 30
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_and_excess_are_errors() {
        assert_eq!(shape_elements(&[2, 3], 4, "x").unwrap(), 6);
        assert_eq!(shape_elements(&[], 4, "x").unwrap(), 1);
        assert_eq!(shape_elements(&[0, usize::MAX], 4, "x").unwrap(), 0);
        let e = shape_elements(&[1 << 32, 1 << 32], 1, "tensor 'x'").unwrap_err();
        assert!(e.to_string().contains("tensor 'x' is too large"), "{e}");
        assert!(shape_elements(&[1 << 28], 4, "x").is_ok());
        assert!(shape_elements(&[(1 << 28) + 1], 4, "x").is_err());
        assert!(buffer_bytes(usize::MAX, 2, "x").is_err());
    }
}
