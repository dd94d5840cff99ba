//! Context-adaptive binary arithmetic coding: adaptive bit probabilities ([`Bit`]) drive
//! `constriction`'s range coder, and [`UIntContexts`] binarizes unsigned numbers.
//!
//! A [`Bit`] starts at probability 1/2 and learns from the bits it codes (counts, halved
//! once their sum passes [`LIMIT`]), so a coded stream needs no frequency table and small
//! blocks pay no table overhead. All arithmetic is integer: encoder and decoder build the
//! same probabilities on any machine.

use constriction::stream::model::{EncoderModel, EntropyModel};
use constriction::stream::queue::{DefaultRangeEncoder, EncoderSituation};
use constriction::stream::Encode;
use std::num::NonZeroU32;

/// Probability precision (bits) of the range coder.
const PRECISION: usize = 16;
const ONE: u32 = 1 << PRECISION;
/// Counts of a [`Bit`] are halved once their sum passes this.
const LIMIT: u16 = 1024;

/// `2^32 / (2n + 2)` for every count sum `n` a [`Bit`] can hold.
static RECIPROCALS: [u32; LIMIT as usize + 1] = reciprocals();

const fn reciprocals() -> [u32; LIMIT as usize + 1] {
    let mut r = [0u32; LIMIT as usize + 1];
    let mut n = 0;
    while n <= LIMIT as usize {
        r[n] = ((1u64 << 32) / (2 * n as u64 + 2)) as u32;
        n += 1;
    }
    r
}

/// An adaptive bit probability: the counts of zeros and ones coded in its context.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bit {
    counts: [u16; 2],
}

impl Bit {
    /// The Krichevsky–Trofimov estimate `(n1 + 1/2) / (n + 1)` in fixed point (through a
    /// table of reciprocals instead of a division per bit).
    fn model(&self) -> BitModel {
        let [n0, n1] = self.counts.map(u64::from);
        let p1 = ((2 * n1 + 1) * u64::from(RECIPROCALS[(n0 + n1) as usize])) >> (32 - PRECISION);
        BitModel {
            p1: (p1 as u32).clamp(1, ONE - 1),
        }
    }

    fn update(&mut self, bit: bool) {
        self.counts[usize::from(bit)] += 1;
        if self.counts[0] + self.counts[1] > LIMIT {
            self.counts = self.counts.map(|n| n.div_ceil(2));
        }
    }
}

/// A fixed two-symbol model (`false` below `ONE - p1`, `true` above) for the range coder.
#[derive(Clone, Copy, Debug)]
struct BitModel {
    p1: u32,
}

impl BitModel {
    fn p0(self) -> u32 {
        ONE - self.p1
    }
}

impl EntropyModel<PRECISION> for BitModel {
    type Symbol = bool;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for BitModel {
    fn left_cumulative_and_probability(
        &self,
        symbol: impl std::borrow::Borrow<bool>,
    ) -> Option<(u32, NonZeroU32)> {
        if *symbol.borrow() {
            Some((self.p0(), NonZeroU32::new(self.p1)?))
        } else {
            Some((0, NonZeroU32::new(self.p0())?))
        }
    }
}

/// The uniform model of `bits`-bit numbers (1 <= `bits` <= `PRECISION`).
#[derive(Clone, Copy, Debug)]
struct Uniform {
    bits: u32,
}

impl EntropyModel<PRECISION> for Uniform {
    type Symbol = u32;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for Uniform {
    fn left_cumulative_and_probability(
        &self,
        symbol: impl std::borrow::Borrow<u32>,
    ) -> Option<(u32, NonZeroU32)> {
        let unit = PRECISION as u32 - self.bits;
        let v = *symbol.borrow();
        (v >> self.bits == 0).then_some((v << unit, NonZeroU32::new(1 << unit)?))
    }
}

/// An adaptive distribution over `0..k` (2 <= `k` <= [`MAX_SYMBOLS`]): symbol `i` weighs
/// `2 * count_i + 1` (Krichevsky–Trofimov), counts halved once their sum passes
/// [`LIMIT`]; quantized so that every symbol keeps at least `2^-PRECISION`.
#[derive(Clone, Debug)]
pub struct Categorical {
    counts: Vec<u16>,
    total: u16,
}

/// Most symbols of a [`Categorical`].
pub const MAX_SYMBOLS: usize = 16;

impl Categorical {
    pub fn new(k: usize) -> Self {
        debug_assert!((2..=MAX_SYMBOLS).contains(&k));
        Categorical {
            counts: vec![0; k],
            total: 0,
        }
    }

    /// The left cumulative of symbol `i` (`i <= k`; `ONE` for `i == k`).
    fn cumulative(&self, i: usize) -> u32 {
        let k = self.counts.len() as u64;
        let weight: u64 = self.counts[..i].iter().map(|&c| 2 * u64::from(c) + 1).sum();
        let total = 2 * u64::from(self.total) + k;
        i as u32 + (weight * (u64::from(ONE) - k) / total) as u32
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

impl EntropyModel<PRECISION> for Categorical {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for Categorical {
    fn left_cumulative_and_probability(
        &self,
        symbol: impl std::borrow::Borrow<usize>,
    ) -> Option<(u32, NonZeroU32)> {
        let s = *symbol.borrow();
        if s >= self.counts.len() {
            return None;
        }
        let left = self.cumulative(s);
        Some((left, NonZeroU32::new(self.cumulative(s + 1) - left)?))
    }
}

/// Codes bits under adaptive contexts into a range-coded stream.
pub struct Encoder {
    coder: DefaultRangeEncoder,
    failed: bool,
}

impl Encoder {
    pub fn new() -> Self {
        Encoder {
            coder: DefaultRangeEncoder::new(),
            failed: false,
        }
    }

    /// Codes `bit` under `ctx` and updates `ctx`.
    pub fn bit(&mut self, ctx: &mut Bit, bit: bool) {
        self.failed |= self.coder.encode_symbol(bit, ctx.model()).is_err();
        ctx.update(bit);
    }

    /// Codes `symbol` under `cat` and updates `cat`.
    pub fn symbol(&mut self, cat: &mut Categorical, symbol: usize) {
        self.failed |= self.coder.encode_symbol(symbol, &*cat).is_err();
        cat.update(symbol);
    }

    /// Codes the `count` (1..=32) low bits of `v`, each at probability 1/2.
    pub fn raw_bits(&mut self, v: u32, count: u32) {
        let mut left = count;
        while left > 0 {
            let bits = left.min(PRECISION as u32);
            left -= bits;
            let chunk = (v >> left) & ((1u32 << bits) - 1);
            self.failed |= self.coder.encode_symbol(chunk, Uniform { bits }).is_err();
        }
    }

    /// The stream: the coder's words, big-endian, without trailing zero bytes (the
    /// decoder reads zeros past the end). `None` if coding failed (it cannot with the
    /// clamped probabilities, but the caller then falls back to another method).
    ///
    /// In the usual situation (no pending carry) the stream ends with the fewest bytes
    /// that pick a point in the final interval, instead of `constriction`'s seal, which
    /// keeps the stream decodable when more data follows it.
    pub fn finish(self) -> Option<Vec<u8>> {
        if self.failed {
            return None;
        }
        let (mut words, state, situation) = self.coder.into_raw_parts();
        let (lower, range) = (state.lower(), state.range().get());
        match situation {
            EncoderSituation::Normal if range != u64::MAX => {
                let point = shortest_point(lower, range);
                words.extend([(point >> 32) as u32, point as u32]);
            }
            situation => {
                let coder = DefaultRangeEncoder::from_raw_parts(words, state, situation);
                words = coder.into_compressed().ok()?;
            }
        }
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        Some(bytes)
    }
}

/// The value in `lower..lower + range` (which does not pass 2^64: no pending carry) with
/// the most trailing zero bytes.
fn shortest_point(lower: u64, range: u64) -> u64 {
    let end = u128::from(lower) + u128::from(range);
    (1..8)
        .map(|bytes| {
            let unit = 1u128 << (64 - 8 * bytes);
            u128::from(lower).div_ceil(unit) * unit
        })
        .find(|&p| p < end)
        .map_or(lower, |p| p as u64)
}

/// Contexts of an unsigned number of at most `max_bits` bits, coded as its bit length `n`
/// (see [`Length`]) and then its bits below the leading
/// one, from the top: the first `tree_depth` with one context per length and prefix
/// (they shape the distribution within a length class), the next ones up to
/// `adaptive_bits` with one context per length and position, the rest at probability 1/2
/// (bits that carry no pattern cost no learning).
pub struct UIntContexts {
    max_bits: u32,
    tree_depth: u32,
    adaptive_bits: u32,
    length: Length,
    tree: Vec<Bit>,
    low: Vec<Bit>,
}

/// How a [`UIntContexts`] codes bit lengths: one adaptive symbol when there are at most
/// [`MAX_SYMBOLS`] of them, else a binary tree of `depth` adaptive bits.
enum Length {
    Categorical(Categorical),
    Tree(u32, Vec<Bit>),
}

impl UIntContexts {
    pub fn new(max_bits: u32, tree_depth: u32, adaptive_bits: u32) -> Self {
        let lengths = max_bits as usize + 1;
        let length = if lengths <= MAX_SYMBOLS {
            Length::Categorical(Categorical::new(lengths))
        } else {
            let depth = u32::BITS - max_bits.leading_zeros();
            Length::Tree(depth, vec![Bit::default(); 1 << depth])
        };
        UIntContexts {
            max_bits,
            tree_depth,
            adaptive_bits,
            length,
            tree: vec![Bit::default(); lengths << tree_depth],
            low: vec![Bit::default(); lengths * max_bits as usize],
        }
    }

    /// Codes `v`, which must be below `2^max_bits`.
    pub fn encode(&mut self, enc: &mut Encoder, v: u32) {
        let n = self.encode_length(enc, v);
        self.encode_bits(enc, v, n, 0);
    }

    /// Codes `v` (below `2^max_bits`) with its count of trailing zero bits, coded under
    /// `zeros` (5-bit numbers), in place of the bits from the lowest one down.
    pub fn encode_trailing(&mut self, enc: &mut Encoder, zeros: &mut UIntContexts, v: u32) {
        let n = self.encode_length(enc, v);
        if n >= 2 {
            let t = v.trailing_zeros();
            zeros.encode(enc, t);
            self.encode_bits(enc, v, n, t + 1);
        }
    }

    /// Codes the bit length of `v` and returns it.
    fn encode_length(&mut self, enc: &mut Encoder, v: u32) -> u32 {
        let n = 32 - v.leading_zeros();
        debug_assert!(n <= self.max_bits);
        match &mut self.length {
            Length::Categorical(cat) => enc.symbol(cat, n as usize),
            Length::Tree(depth, bits) => {
                let mut node = 1usize;
                for k in (0..*depth).rev() {
                    let bit = (n >> k) & 1 == 1;
                    enc.bit(&mut bits[node], bit);
                    node = (node << 1) | usize::from(bit);
                }
            }
        }
        n
    }

    /// Codes the bits of `v` (of bit length `n`) below its leading one, down to bit `low`.
    fn encode_bits(&mut self, enc: &mut Encoder, v: u32, n: u32, low: u32) {
        let (adaptive_low, raw_low) = self.split(n, low);
        let mut node = 1usize;
        for j in (adaptive_low..n.saturating_sub(1)).rev() {
            let bit = (v >> j) & 1 == 1;
            enc.bit(self.mantissa_ctx(n, j, node), bit);
            node = (node << 1) | usize::from(bit);
        }
        let count = adaptive_low - raw_low;
        if count > 0 {
            enc.raw_bits((v >> raw_low) & ((1 << count) - 1), count);
        }
    }

    /// For a number of bit length `n` coded down to bit `low`: the lowest adaptively
    /// coded bit position and the lowest coded one (the bits between are coded raw).
    fn split(&self, n: u32, low: u32) -> (u32, u32) {
        let top = n.saturating_sub(1);
        let raw_low = low.min(top);
        (top.saturating_sub(self.adaptive_bits).max(raw_low), raw_low)
    }

    /// The context of bit `j` of a number of bit length `n` whose higher mantissa bits,
    /// after a leading 1, form `node` (a bit within the top `adaptive_bits`).
    fn mantissa_ctx(&mut self, n: u32, j: u32, node: usize) -> &mut Bit {
        let depth = n - 1 - j;
        if depth < self.tree_depth {
            &mut self.tree[((n as usize) << self.tree_depth) + node]
        } else {
            &mut self.low[n as usize * self.max_bits as usize + j as usize]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categorical_keeps_every_symbol_codable() {
        let mut cat = Categorical::new(9);
        for _ in 0..5000 {
            cat.update(3);
        }
        let widths: Vec<u32> = (0..9)
            .map(|i| cat.cumulative(i + 1) - cat.cumulative(i))
            .collect();
        assert!(widths.iter().all(|&w| w >= 1), "{widths:?}");
        assert_eq!(cat.cumulative(9), ONE);
        // The other eight symbols keep about 1 / (2 * LIMIT) each.
        assert!(widths[3] > ONE - 400, "{widths:?}");
    }

    #[test]
    fn skewed_bits_cost_little() {
        let mut ctx = Bit::default();
        let mut enc = Encoder::new();
        for i in 0..8000 {
            enc.bit(&mut ctx, i % 100 == 0);
        }
        // 8000 bits of entropy 0.08 bits each: about 80 bytes.
        let n = enc.finish().unwrap().len();
        assert!(n < 120, "{n} bytes");
    }
}
