//! The adaptive binary range decoder: `constriction`'s `DefaultRangeDecoder` (32-bit
//! words read big-endian, a 64-bit state, 16-bit probabilities) under the models of the
//! std encoder: adaptive bits ([`Bit`]), adaptive small alphabets ([`Categorical`]) and
//! raw bits at probability 1/2.
//!
//! All arithmetic is integer, so the models match the encoder's on any machine.

use crate::{Error, Result};

/// Probability precision (bits) of the range coder.
const PRECISION: u32 = 16;
const ONE: u32 = 1 << PRECISION;
/// Counts of a model are halved once their sum passes this.
const LIMIT: u16 = 1024;
/// Most symbols of a [`Categorical`].
pub const MAX_SYMBOLS: usize = 16;

fn corrupt() -> Error {
    Error::malformed("corrupt adaptive stream in compressed block")
}

/// An adaptive bit probability: the counts of zeros and ones decoded in its context.
#[derive(Clone, Copy, Debug)]
pub struct Bit {
    counts: [u16; 2],
}

impl Bit {
    /// Probability 1/2, nothing seen yet.
    pub const NEW: Bit = Bit { counts: [0, 0] };

    /// The probability of a one, `(n1 + 1/2) / (n + 1)` in fixed point: `2 * n1 + 1`
    /// times `2^32 / (2n + 2)` (which is `2^31 / (n + 1)`) as the encoder's table has it.
    /// With `n <= LIMIT` it lies in `31..=65504`, inside the encoder's clamp to `1..ONE`.
    fn p1(self) -> u32 {
        let [n0, n1] = self.counts.map(u32::from);
        let reciprocal = (1u32 << 31) / (n0 + n1 + 1);
        ((u64::from(2 * n1 + 1) * u64::from(reciprocal)) >> (32 - PRECISION)) as u32
    }

    fn update(&mut self, bit: bool) {
        self.counts[usize::from(bit)] += 1;
        if self.counts[0] + self.counts[1] > LIMIT {
            self.counts = self.counts.map(|n| n.div_ceil(2));
        }
    }
}

/// An adaptive distribution over `0..k` (2 <= `k` <= [`MAX_SYMBOLS`]): symbol `i` weighs
/// `2 * count_i + 1`, counts halved once their sum passes [`LIMIT`], every symbol kept
/// at `2^-16` or more.
#[derive(Clone, Copy, Debug)]
pub struct Categorical {
    counts: [u16; MAX_SYMBOLS],
    k: usize,
    /// The sum of `counts`.
    total: u16,
}

impl Categorical {
    pub const fn new(k: usize) -> Self {
        assert!(2 <= k && k <= MAX_SYMBOLS);
        Categorical {
            counts: [0; MAX_SYMBOLS],
            k,
            total: 0,
        }
    }

    /// The symbol whose interval holds `quantile` (below `ONE`), its left cumulative and
    /// its width. Left cumulative of symbol `i`:
    /// `i + (sum of the weights before i) * (ONE - k) / (2 * total + k)`; `ONE` for `k`.
    fn quantile(&self, quantile: u32) -> (usize, u32, u32) {
        // At most `2 * LIMIT + MAX_SYMBOLS` times `ONE`: no overflow.
        let k = self.k as u32;
        let total = 2 * u32::from(self.total) + k;
        let mut weight = 0;
        let mut left = 0;
        for (s, &c) in (0u32..).zip(&self.counts[..self.k - 1]) {
            weight += 2 * u32::from(c) + 1;
            let right = s + 1 + weight * (ONE - k) / total;
            if quantile < right {
                return (s as usize, left, right - left);
            }
            left = right;
        }
        (self.k - 1, left, ONE - left)
    }

    fn update(&mut self, symbol: usize) {
        self.counts[symbol] += 1;
        self.total += 1;
        if self.total > LIMIT {
            self.counts.iter_mut().for_each(|c| *c = c.div_ceil(2));
            self.total = self.counts.iter().sum();
        }
    }
}

/// Decodes a range-coded stream of big-endian 32-bit words; bytes missing from the last
/// word, and words past the end, read as zeros.
pub struct Decoder<'a> {
    stream: &'a [u8],
    /// Bytes of `stream` read.
    pos: usize,
    lower: u64,
    /// At least `2^32` between symbols.
    range: u64,
    point: u64,
}

impl<'a> Decoder<'a> {
    pub fn new(stream: &'a [u8]) -> Self {
        let mut dec = Decoder {
            stream,
            pos: 0,
            lower: 0,
            range: u64::MAX,
            point: 0,
        };
        dec.point = (dec.word() << 32) | dec.word();
        dec
    }

    /// The next word (zero past the end).
    fn word(&mut self) -> u64 {
        let rest = self.stream.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(4);
        let mut word = [0u8; 4];
        word[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        u64::from(u32::from_be_bytes(word))
    }

    /// Decodes a symbol under a model given by its quantile function: the symbol, left
    /// cumulative and (nonzero) width of the interval that holds a quantile below `ONE`.
    fn decode<T>(&mut self, model: impl FnOnce(u32) -> (T, u32, u32)) -> Result<T> {
        // Nonzero: `range` is at least 2^32.
        let scale = self.range >> PRECISION;
        let quantile = self.point.wrapping_sub(self.lower) / scale;
        let quantile = u32::try_from(quantile)
            .ok()
            .filter(|&q| q < ONE)
            .ok_or_else(corrupt)?;
        let (symbol, left, width) = model(quantile);
        // `left + width <= ONE`: neither product passes the old range.
        self.lower = self.lower.wrapping_add(scale * u64::from(left));
        self.range = scale * u64::from(width);
        if self.range < 1 << 32 {
            self.lower <<= 32;
            self.range <<= 32;
            self.point = (self.point << 32) | self.word();
        }
        Ok(symbol)
    }

    /// Decodes one bit under `ctx` and updates `ctx`.
    pub fn bit(&mut self, ctx: &mut Bit) -> Result<bool> {
        let p1 = ctx.p1();
        let p0 = ONE - p1;
        let bit = self.decode(|q| {
            if q < p0 {
                (false, 0, p0)
            } else {
                (true, p0, p1)
            }
        })?;
        ctx.update(bit);
        Ok(bit)
    }

    /// Decodes a symbol under `cat` and updates `cat`.
    pub fn symbol(&mut self, cat: &mut Categorical) -> Result<usize> {
        let symbol = self.decode(|q| cat.quantile(q))?;
        cat.update(symbol);
        Ok(symbol)
    }

    /// Decodes `count` (0..=32) bits coded at probability 1/2, at most 16 a symbol, from
    /// the top.
    pub fn raw_bits(&mut self, count: u32) -> Result<u32> {
        let mut v = 0u32;
        let mut left = count;
        while left > 0 {
            let bits = left.min(PRECISION);
            left -= bits;
            let unit = PRECISION - bits;
            let chunk = self.decode(|q| {
                let chunk = q >> unit;
                (chunk, chunk << unit, 1 << unit)
            })?;
            v = (v << bits) | chunk;
        }
        Ok(v)
    }

    /// Checks that the stream holds nothing after the decoded symbols: every word was
    /// read and no zero byte ends it (the encoder drops trailing zeros).
    pub fn finish(self) -> Result<()> {
        if self.pos == self.stream.len() && self.stream.last() != Some(&0) {
            Ok(())
        } else {
            Err(Error::malformed("compressed block has trailing data"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoder's clamp of a bit's probability never binds.
    #[test]
    fn bit_probabilities_lie_inside_the_clamp() {
        for n in 0..=LIMIT {
            for n1 in 0..=n {
                let p1 = Bit {
                    counts: [n - n1, n1],
                }
                .p1();
                assert!((31..=65504).contains(&p1), "{n1} of {n}: {p1}");
            }
        }
    }
}
