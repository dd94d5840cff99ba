//! A weight block decoded for one command: int8 weights (in place when stored
//! uncompressed, else decoded into scratch), per-channel zero points and biases, and the
//! requantization records.

use crate::decode;
use crate::error::{Error, Result};
use crate::kernels::stage::OutputStage;
use crate::schema::{Part, WeightBlock};
use crate::scratch::{take_bytes, take_i32, I32_SLACK};

/// Decoded weights and per-channel parameters.
pub struct Weights<'b> {
    /// int8 weights, one row per output channel.
    pub weights: &'b [u8],
    pub zero_points: &'b [i32],
    bias: &'b [i32],
    multiplier: &'b [i32],
    shift: &'b [i32],
}

impl<'b> Weights<'b> {
    /// Scratch bytes that [`Weights::decode`] needs for `w`.
    pub fn scratch(w: &WeightBlock<'_>) -> usize {
        let weights = if w.weights.stored().is_some() {
            0
        } else {
            w.weights.len
        };
        weights
            + 4 * (4 * w.channels + I32_SLACK)
            + w.requant.len
            + w.zero_points.len.max(w.bias.len)
    }

    /// Decodes `w` into `scratch` (at least [`Weights::scratch`] bytes); returns the
    /// weights and the rest of `scratch`.
    pub fn decode<'s: 'b>(
        w: &WeightBlock<'s>,
        scratch: &'b mut [u8],
    ) -> Result<(Self, &'b mut [u8])> {
        let n = w.channels;
        let (weights, rest): (&'b [u8], &'b mut [u8]) = match w.weights.stored() {
            Some(b) => (b, scratch),
            None => {
                let (buf, rest) = take_bytes(scratch, w.weights.len)?;
                decode::decompress(w.weights.coded, buf)?;
                (buf, rest)
            }
        };
        let (requant, rest) = take_bytes(rest, w.requant.len)?;
        decode::decompress(w.requant.coded, requant)?;
        let (multiplier, rest) = take_i32(rest, n)?;
        let (shift, rest) = take_i32(rest, n)?;
        for c in 0..n {
            match decode::requant_record(requant, c) {
                Some((m, s)) if (-31..=31).contains(&s) => (multiplier[c], shift[c]) = (m, s),
                _ => return Err(Error::malformed("requantization shift out of range")),
            }
        }
        let (zero_points, rest) = take_i32(rest, n)?;
        let (bias, rest) = take_i32(rest, n)?;
        let leb_len = w.zero_points.len.max(w.bias.len);
        let (leb, rest) = take_bytes(rest, leb_len)?;
        ints(&w.zero_points, leb, zero_points)?;
        ints(&w.bias, leb, bias)?;
        Ok((
            Weights {
                weights,
                zero_points,
                bias,
                multiplier,
                shift,
            },
            rest,
        ))
    }

    /// The output stage of these channels: bias, TFLite's `MultiplyByQuantizedMultiplier`
    /// (shifts checked at decoding), `zero_point`, clamp to `range`.
    pub fn stage(&self, zero_point: i32, range: (i32, i32)) -> OutputStage<'b> {
        OutputStage {
            bias: self.bias,
            multiplier: self.multiplier,
            shift: self.shift,
            zero_point,
            range,
        }
    }
}

/// Decodes a part of zigzag LEB128 numbers into `out`, using `leb` as buffer.
fn ints(part: &Part<'_>, leb: &mut [u8], out: &mut [i32]) -> Result<()> {
    let buf = &mut leb[..part.len];
    decode::decompress(part.coded, buf)?;
    decode::decode_ints(buf, out)
}
