//! The byte form of a federated client's state between rounds (a Flower `ClientApp` runs
//! once per message, so its state travels in the node's context): little-endian numbers
//! and length-prefixed f32 arrays behind a magic and a version. Reading checks every
//! length against the bytes left, so a damaged state is an error, never a panic or an
//! unbounded allocation.

use nnopt_compiler::{Error, Result};

/// The first bytes of a client state.
pub const MAGIC: &[u8; 8] = b"NNFLCS\x00\x01";

/// Appends numbers and arrays.
#[derive(Default)]
pub struct StateWriter(Vec<u8>);

impl StateWriter {
    /// A writer that has written the magic.
    pub fn new() -> Self {
        StateWriter(MAGIC.to_vec())
    }

    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    /// A length, then the values.
    pub fn f32s(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// A length, then the bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.0.extend_from_slice(v);
    }

    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads what a [`StateWriter`] wrote, in the same order.
pub struct StateReader<'a> {
    rest: &'a [u8],
}

fn damaged(what: &str) -> Error {
    Error::new(format!("federated client state: {what}"))
}

impl<'a> StateReader<'a> {
    /// A reader past the magic.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        match bytes.strip_prefix(MAGIC.as_slice()) {
            Some(rest) => Ok(StateReader { rest }),
            None => Err(damaged("not a client state (bad magic or version)")),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(damaged("truncated"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// A length that `size`-byte items of the rest can hold.
    fn len(&mut self, size: usize) -> Result<usize> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.rest.len() / size)
            .ok_or_else(|| damaged("a length runs past the end"))
    }

    /// An array of exactly `out.len()` values into `out`.
    pub fn f32s_into(&mut self, out: &mut [f32]) -> Result<()> {
        if self.len(4)? != out.len() {
            return Err(damaged("an array does not match the program's layout"));
        }
        self.fill(out)
    }

    /// An array of any length.
    pub fn f32s(&mut self) -> Result<Vec<f32>> {
        let mut v = vec![0.0; self.len(4)?];
        self.fill(&mut v)?;
        Ok(v)
    }

    fn fill(&mut self, out: &mut [f32]) -> Result<()> {
        let bytes = self.take(4 * out.len())?;
        for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *o = f32::from_le_bytes(b.try_into().expect("4 bytes"));
        }
        Ok(())
    }

    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.len(1)?;
        self.take(n)
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(damaged("trailing bytes"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut w = StateWriter::new();
        w.u64(7);
        w.f32s(&[1.5, -0.0, f32::MIN_POSITIVE]);
        w.bytes(b"rng");
        let bytes = w.finish();
        let mut r = StateReader::new(&bytes).unwrap();
        assert_eq!(r.u64().unwrap(), 7);
        let v = r.f32s().unwrap();
        assert_eq!(
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            [1.5f32, -0.0, f32::MIN_POSITIVE].map(f32::to_bits)
        );
        assert_eq!(r.bytes().unwrap(), b"rng");
        r.finish().unwrap();
        for n in 0..bytes.len() {
            let mut r = match StateReader::new(&bytes[..n]) {
                Ok(r) => r,
                Err(_) => continue,
            };
            let read = r
                .u64()
                .and_then(|_| r.f32s())
                .and_then(|_| r.bytes().map(|_| ()));
            assert!(read.is_err(), "{n} bytes read as a whole state");
        }
        // A huge length is an error, not an allocation.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(StateReader::new(&huge).unwrap().f32s().is_err());
    }
}
