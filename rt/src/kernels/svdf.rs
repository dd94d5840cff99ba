//! TFLite Micro's integer SVDF step (`EvalIntegerSvdfReference`): int8 input and output,
//! int8 or int16 state and time weights, the fused activation not applied; the
//! compiler's interpreter runs the same function.

use super::Ints;
use crate::command;
use crate::error::{Error, Result};
use crate::fixedpoint::multiply_by_quantized_multiplier as mbqm;
use crate::schema::{DType, TensorDesc};
use crate::scratch::I32_SLACK;

/// Sizes and fixed-point parameters of one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SvdfParams {
    pub batch: usize,
    pub input: usize,
    /// Filters: output units times `rank`.
    pub filters: usize,
    /// State entries per filter, at least 1.
    pub memory: usize,
    /// Filters per output unit, at least 1.
    pub rank: usize,
    pub input_zero_point: i32,
    pub state_zero_point: i32,
    pub output_zero_point: i32,
    /// Input times feature weights to the state's scale (multiplier, shift).
    pub feature: (i32, i32),
    /// Filter sums to the output's scale (multiplier, shift).
    pub time: (i32, i32),
    /// An int16 state (else int8).
    pub state_i16: bool,
}

impl SvdfParams {
    /// Output units per batch row.
    pub fn units(&self) -> usize {
        self.filters / self.rank
    }
}

/// The operands of one step, row-major.
pub struct SvdfOperands<'o, T: Ints + ?Sized> {
    /// `[batch, input]`.
    pub x: &'o T,
    /// `[filters, input]`.
    pub weights_feature: &'o T,
    /// `[filters, memory]`.
    pub weights_time: &'o T,
    /// `[batch, filters * memory]`.
    pub state: &'o T,
    /// `[units]`.
    pub bias: &'o T,
}

/// One step: the state shifted one entry left with each filter's newest entry last goes
/// to `next` (`batch * filters * memory` values), `sums` (`filters` values) holds one
/// batch row's filter sums, and output element `i` (`[batch, units]`) is written by
/// `out(i, code)`.
pub fn svdf_step<T: Ints + ?Sized>(
    p: &SvdfParams,
    v: &SvdfOperands<'_, T>,
    next: &mut [i32],
    sums: &mut [i32],
    mut out: impl FnMut(usize, i32),
) {
    let (m, units) = (p.memory, p.units());
    let (zi, zs) = (p.input_zero_point, p.state_zero_point);
    let (lo, hi) = if p.state_i16 {
        (-32768, 32767)
    } else {
        (-128, 127)
    };
    for b in 0..p.batch {
        for (f, sum) in sums.iter_mut().enumerate().take(p.filters) {
            let row = (b * p.filters + f) * m;
            for j in 0..m - 1 {
                next[row + j] = v.state.at(row + j + 1);
            }
            let mut dot = 0i32;
            for i in 0..p.input {
                let x = v.x.at(b * p.input + i).wrapping_sub(zi);
                dot = dot.wrapping_add(v.weights_feature.at(f * p.input + i).wrapping_mul(x));
            }
            // As the pinned tflite-micro wheel: clamp to the state type, then add the
            // state's zero point and narrow (wrapping). TFLite Micro's newer source adds
            // the zero point before the clamp instead.
            let newest = mbqm(dot, p.feature.0, p.feature.1)
                .clamp(lo, hi)
                .wrapping_add(zs);
            next[row + m - 1] = if p.state_i16 {
                newest as i16 as i32
            } else {
                newest as i8 as i32
            };
            *sum = (0..m).fold(0i32, |acc, j| {
                let s = next[row + j].wrapping_sub(zs);
                acc.wrapping_add(v.weights_time.at(f * m + j).wrapping_mul(s))
            });
        }
        for u in 0..units {
            let total = sums[u * p.rank..(u + 1) * p.rank]
                .iter()
                .fold(v.bias.at(u), |acc, &s| acc.wrapping_add(s));
            let y = mbqm(total, p.time.0, p.time.1).wrapping_add(p.output_zero_point);
            out(b * units + u, y.clamp(-128, 127));
        }
    }
}

/// Checks an SVDF command against its tensors: int8 `[batch, input]` to int8 `[batch,
/// units]`, constants of the lengths these and its rank and memory give, defined shifts.
pub(crate) fn svdf_plan(
    c: &command::Svdf<'_>,
    x: &TensorDesc,
    o: &TensorDesc,
) -> Result<SvdfParams> {
    let bad = Error::malformed("svdf does not match its tensors");
    let (&[batch, input], &[batch2, units]) = (x.shape.dims(), o.shape.dims()) else {
        return Err(bad);
    };
    let state_i16 = match c.state_type {
        DType::I8 => false,
        DType::I16 => true,
        _ => return Err(bad),
    };
    let size = c.state_type.size();
    let filters = units.checked_mul(c.rank).ok_or(bad)?;
    let bytes =
        |dims: &[usize], size: usize| dims.iter().try_fold(size, |acc, &d| acc.checked_mul(d));
    let fits = x.dtype == DType::I8
        && o.dtype == DType::I8
        && batch == batch2
        && c.rank > 0
        && c.memory > 0
        && bytes(&[filters, input], 1) == Some(c.weights_feature.len())
        && bytes(&[filters, c.memory], size) == Some(c.weights_time.len())
        && bytes(&[batch, filters, c.memory], size) == Some(c.state.len())
        && bytes(&[units], 4) == Some(c.bias.len())
        && c.feature.valid()
        && c.time.valid();
    if !fits {
        return Err(bad);
    }
    Ok(SvdfParams {
        batch,
        input,
        filters,
        memory: c.memory,
        rank: c.rank,
        input_zero_point: c.input_zero_point,
        state_zero_point: c.state_zero_point,
        output_zero_point: c.output_zero_point,
        feature: (c.feature.multiplier, c.feature.shift),
        time: (c.time.multiplier, c.time.shift),
        state_i16,
    })
}

/// Scratch bytes of a step: the next state and one batch row's filter sums, as i32.
pub(crate) fn svdf_scratch(p: &SvdfParams) -> Result<usize> {
    p.batch
        .checked_mul(p.filters)
        .and_then(|n| n.checked_mul(p.memory))
        .and_then(|n| n.checked_add(p.filters))
        .and_then(|n| n.checked_mul(4))
        .and_then(|n| n.checked_add(2 * I32_SLACK))
        .ok_or(Error::malformed("svdf state too large"))
}
