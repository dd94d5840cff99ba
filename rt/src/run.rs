//! Execution: caller inputs into the arena, each command in order (its weights decoded
//! into scratch first), outputs back to the caller. [`plan`] checks a command against its
//! tensors at load time and gives the scratch it needs; execution checks the same way.

use crate::command::Command;
use crate::error::{Error, ErrorKind, Result};
use crate::fixedpoint::round_half_away;
use crate::kernels::{conv, elementwise, moves, pool, requantize, resize, softmax, svdf};
use crate::model::Model;
use crate::schema::{DType, IoConversion, TensorDesc};
use crate::scratch::take_i32;
use crate::tensor::{Elems, ElemsMut};
use crate::weights::Weights;
use core::ops::Range;

/// Checks command `c` against its tensors and weights; returns the scratch bytes it needs.
pub fn plan(m: &Model<'_>, c: &Command<'_>) -> Result<usize> {
    let t = |i: usize| m.tensor(i);
    Ok(match c {
        Command::Conv(cv) => {
            let wb = m.weight_block(cv.weights)?;
            let p = conv::ConvPlan::new(cv, &t(cv.input)?, &t(cv.output)?, &wb)?;
            disjoint(&t(cv.input)?, &t(cv.output)?)?;
            Weights::scratch(&wb) + p.scratch(cv)
        }
        Command::FullyConnected(fc) => {
            let wb = m.weight_block(fc.weights)?;
            let p = conv::FcPlan::new(fc, &t(fc.input)?, &t(fc.output)?, &wb)?;
            disjoint(&t(fc.input)?, &t(fc.output)?)?;
            Weights::scratch(&wb) + p.scratch(wb.channels)
        }
        Command::Elementwise(e) => {
            let (a, b, o) = (t(e.a)?, t(e.b)?, t(e.output)?);
            elementwise::elementwise_plan(e, &a, &b, &o)?;
            disjoint(&a, &o)?;
            disjoint(&b, &o)?;
            0
        }
        Command::Pool(p) => {
            pool::pool_plan(p, &t(p.input)?, &t(p.output)?)?;
            disjoint(&t(p.input)?, &t(p.output)?)?;
            0
        }
        Command::Reduce(r) => {
            pool::reduce_plan(r, &t(r.input)?, &t(r.output)?)?;
            disjoint(&t(r.input)?, &t(r.output)?)?;
            0
        }
        Command::Concat(cc) => {
            let o = t(cc.output)?;
            let mut err = None;
            let inputs = (0..cc.inputs.len()).map_while(|i| {
                match cc.inputs.u32(i).and_then(|id| t(id as usize)) {
                    Ok(x) => {
                        if let Err(e) = disjoint(&x, &o) {
                            err = Some(e);
                        }
                        Some(x)
                    }
                    Err(e) => {
                        err = Some(e);
                        None
                    }
                }
            });
            moves::concat_plan(cc, inputs, &o)?;
            if let Some(e) = err {
                return Err(e);
            }
            0
        }
        Command::Pad(p) => {
            moves::pad_plan(p, &t(p.input)?, &t(p.output)?)?;
            disjoint(&t(p.input)?, &t(p.output)?)?;
            0
        }
        Command::Lookup(l) => {
            moves::lookup_plan(l, &t(l.input)?, &t(l.output)?)?;
            disjoint(&t(l.input)?, &t(l.output)?)?;
            0
        }
        Command::PRelu(p) => {
            elementwise::prelu_plan(p, &t(p.input)?, &t(p.output)?)?;
            disjoint(&t(p.input)?, &t(p.output)?)?;
            0
        }
        Command::Resize(r) => {
            resize_dims(&t(r.input)?, &t(r.output)?)?;
            disjoint(&t(r.input)?, &t(r.output)?)?;
            0
        }
        Command::Softmax(s) => {
            softmax_dims(s, &t(s.input)?, &t(s.output)?)?;
            disjoint(&t(s.input)?, &t(s.output)?)?;
            0
        }
        Command::Requantize(r) => {
            requantize::requantize_plan(r, &t(r.input)?, &t(r.output)?)?;
            disjoint(&t(r.input)?, &t(r.output)?)?;
            0
        }
        Command::Svdf(sv) => {
            let p = svdf::svdf_plan(sv, &t(sv.input)?, &t(sv.output)?)?;
            disjoint(&t(sv.input)?, &t(sv.output)?)?;
            svdf::svdf_scratch(&p)?
        }
        Command::TableSoftmax(s) => {
            table_softmax_dims(s, &t(s.input)?, &t(s.output)?)?;
            disjoint(&t(s.input)?, &t(s.output)?)?;
            0
        }
    })
}

/// A command's output may not share bytes with its inputs.
fn disjoint(x: &TensorDesc, o: &TensorDesc) -> Result<()> {
    let (a, b) = (x.range(), o.range());
    if a.start < b.end && b.start < a.end && !a.is_empty() && !b.is_empty() {
        return Err(Error::malformed("a command's output overlaps its input"));
    }
    Ok(())
}

/// Input dims `[n, h, w, c]` and output `[oh, ow]` of a resize of NHWC data.
fn resize_dims(x: &TensorDesc, o: &TensorDesc) -> Result<([usize; 4], [usize; 2])> {
    match (x.shape.dims(), o.shape.dims()) {
        (&[n, h, w, c], &[on, oh, ow, oc])
            if n == on
                && c == oc
                && [h, w, oh, ow].iter().all(|&d| d > 0 && d <= 1 << 16)
                && x.dtype == o.dtype
                && x.dtype.int_range().is_some() =>
        {
            Ok(([n, h, w, c], [oh, ow]))
        }
        _ => Err(Error::malformed("resize does not match its tensors")),
    }
}

/// `[outer, depth, inner]` of a softmax and its output range.
fn softmax_dims(
    s: &crate::command::Softmax,
    x: &TensorDesc,
    o: &TensorDesc,
) -> Result<([usize; 3], (i32, i32))> {
    let d = x.shape.dims();
    let range = o.dtype.int_range().filter(|&(lo, hi)| {
        x.shape == o.shape
            && s.axis < d.len()
            && x.dtype.int_range().is_some()
            && s.multiplier >= 0
            && (0..=31).contains(&s.left_shift)
            && (hi as i64 - lo as i64) < 1 << 16
    });
    let range = range.ok_or(Error::malformed("softmax does not match its tensors"))?;
    Ok((rows(d, s.axis), range))
}

/// `[outer, depth, inner]` of a float-table softmax of 8-bit codes and its output range.
fn table_softmax_dims(
    s: &crate::command::TableSoftmax<'_>,
    x: &TensorDesc,
    o: &TensorDesc,
) -> Result<([usize; 3], (i32, i32))> {
    let d = x.shape.dims();
    let fits = matches!(x.dtype, DType::I8 | DType::U8)
        && o.dtype == x.dtype
        && x.shape == o.shape
        && s.axis < d.len()
        && s.table.len() == 4 * 256;
    let range = x.dtype.int_range().filter(|_| fits);
    let range = range.ok_or(Error::malformed("table softmax does not match its tensors"))?;
    Ok((rows(d, s.axis), range))
}

/// `[outer, depth, inner]` of rows along `axis` (in range) of `dims`.
fn rows(dims: &[usize], axis: usize) -> [usize; 3] {
    [
        dims[..axis].iter().product(),
        dims[axis],
        dims[axis + 1..].iter().product(),
    ]
}

/// Calls `row(at)` for every row of `[outer, depth, inner]` along `depth`, with `at(c)` the
/// flat index of the row's element `c`.
fn each_row([outer, depth, inner]: [usize; 3], mut row: impl FnMut(&dyn Fn(usize) -> usize)) {
    for a in 0..outer {
        for i in 0..inner {
            row(&|c| (a * depth + c) * inner + i);
        }
    }
}

/// The activations around one command's output: the bytes before and after it.
struct Inputs<'b> {
    before: &'b [u8],
    after: &'b [u8],
    after_start: usize,
}

/// Splits the activations into the inputs' view and the output tensor's bytes.
fn split(acts: &mut [u8], out: Range<usize>) -> (Inputs<'_>, &mut [u8]) {
    let (before, rest) = acts.split_at_mut(out.start);
    let (out_bytes, after) = rest.split_at_mut(out.len());
    (
        Inputs {
            before,
            after,
            after_start: out.end,
        },
        out_bytes,
    )
}

impl<'b> Inputs<'b> {
    /// The bytes of an input tensor (disjoint from the output, checked by [`plan`]).
    fn input(&self, t: &TensorDesc) -> &'b [u8] {
        let r = t.range();
        if r.is_empty() {
            return &[];
        }
        if r.end <= self.before.len() {
            &self.before[r]
        } else {
            &self.after[r.start - self.after_start..r.end - self.after_start]
        }
    }

    fn elems(&self, t: &TensorDesc) -> Elems<'b> {
        Elems {
            bytes: self.input(t),
            dtype: t.dtype,
        }
    }
}

impl Model<'_> {
    /// Runs the program: `inputs[i]` holds input `i`'s bytes (its [`crate::TensorInfo`]
    /// type and size, little-endian), `outputs[i]` receives output `i`'s; `arena` is the
    /// working memory, at least [`Model::arena_size`] bytes.
    pub fn run(&self, arena: &mut [u8], inputs: &[&[u8]], outputs: &mut [&mut [u8]]) -> Result<()> {
        if arena.len() < self.arena_size() {
            return Err(Error::new(
                ErrorKind::ArenaTooSmall,
                "arena smaller than the model needs",
            ));
        }
        if inputs.len() != self.num_inputs() || outputs.len() != self.num_outputs() {
            return Err(Error::new(
                ErrorKind::BadArgument,
                "wrong number of inputs or outputs",
            ));
        }
        let (acts, scratch) = arena[..self.arena_size()].split_at_mut(self.scratch_offset);
        let acts = &mut acts[..self.activations];
        for (i, x) in inputs.iter().enumerate() {
            self.write_input(acts, i, x).map_err(|e| e.at(i))?;
        }
        for i in 0..self.commands.len() {
            self.step(&self.command(i)?, acts, scratch)
                .map_err(|e| e.at(i))?;
        }
        for (i, y) in outputs.iter_mut().enumerate() {
            self.read_output(acts, i, y).map_err(|e| e.at(i))?;
        }
        Ok(())
    }

    fn write_input(&self, acts: &mut [u8], i: usize, x: &[u8]) -> Result<()> {
        let (b, t) = self.binding(self.inputs, i)?;
        let n = t.elements();
        let dst = &mut acts[t.range()];
        match b.conversion {
            IoConversion::None if x.len() == dst.len() => dst.copy_from_slice(x),
            IoConversion::QuantizeHalfEven | IoConversion::QuantizeTflite if x.len() == 4 * n => {
                let (s, zp) = t.quant.unwrap_or((1.0, 0));
                let (lo, hi) = t.dtype.int_range().unwrap_or((0, 0));
                let mut o = ElemsMut {
                    bytes: dst,
                    dtype: t.dtype,
                };
                for (k, c) in x.chunks_exact(4).enumerate() {
                    let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) / s;
                    let q = if b.conversion == IoConversion::QuantizeTflite {
                        round_half_away(v)
                    } else {
                        round_half_even(v)
                    };
                    o.set(k, q.saturating_add(zp).clamp(lo as i64, hi as i64) as i32);
                }
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::BadArgument,
                    "input buffer has the wrong size",
                ))
            }
        }
        Ok(())
    }

    fn read_output(&self, acts: &[u8], i: usize, y: &mut [u8]) -> Result<()> {
        let (b, t) = self.binding(self.outputs, i)?;
        let src = &acts[t.range()];
        match b.conversion {
            IoConversion::Dequantize if y.len() == 4 * t.elements() => {
                let (s, zp) = t.quant.unwrap_or((1.0, 0));
                let x = Elems {
                    bytes: src,
                    dtype: t.dtype,
                };
                for (k, c) in y.chunks_exact_mut(4).enumerate() {
                    let v = (x.get(k) as i64 - zp) as f32 * s;
                    c.copy_from_slice(&v.to_le_bytes());
                }
            }
            IoConversion::None if y.len() == src.len() => y.copy_from_slice(src),
            _ => {
                return Err(Error::new(
                    ErrorKind::BadArgument,
                    "output buffer has the wrong size",
                ))
            }
        }
        Ok(())
    }

    /// Executes one command.
    fn step(&self, c: &Command<'_>, acts: &mut [u8], scratch: &mut [u8]) -> Result<()> {
        let t = |i: usize| self.tensor(i);
        match c {
            Command::Conv(cv) => {
                let (x, o) = (t(cv.input)?, t(cv.output)?);
                let wb = self.weight_block(cv.weights)?;
                let p = conv::ConvPlan::new(cv, &x, &o, &wb)?;
                let (w, rest) = Weights::decode(&wb, scratch)?;
                let (s, out_bytes) = split(acts, o.range());
                let out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                conv::conv(cv, &p, s.elems(&x), out, &w, rest)
            }
            Command::FullyConnected(fc) => {
                let (x, o) = (t(fc.input)?, t(fc.output)?);
                let wb = self.weight_block(fc.weights)?;
                let p = conv::FcPlan::new(fc, &x, &o, &wb)?;
                let (w, rest) = Weights::decode(&wb, scratch)?;
                let (s, out_bytes) = split(acts, o.range());
                let out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                conv::fully_connected(fc, &p, s.elems(&x), out, &w, rest)
            }
            Command::Elementwise(e) => {
                let (a, b, o) = (t(e.a)?, t(e.b)?, t(e.output)?);
                let strides = elementwise::elementwise_plan(e, &a, &b, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                elementwise::elementwise(e, strides, o.shape.dims(), s.elems(&a), s.elems(&b), out);
                Ok(())
            }
            Command::Pool(p) => {
                let (x, o) = (t(p.input)?, t(p.output)?);
                let dims = pool::pool_plan(p, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                pool::pool(
                    p,
                    dims,
                    s.elems(&x),
                    ElemsMut {
                        bytes: out_bytes,
                        dtype: o.dtype,
                    },
                );
                Ok(())
            }
            Command::Reduce(r) => {
                let (x, o) = (t(r.input)?, t(r.output)?);
                pool::reduce_plan(r, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                pool::reduce(
                    r,
                    x.shape.dims(),
                    s.elems(&x),
                    ElemsMut {
                        bytes: out_bytes,
                        dtype: o.dtype,
                    },
                );
                Ok(())
            }
            Command::Concat(cc) => {
                let o = t(cc.output)?;
                let n = cc.inputs.len();
                let ids = (0..n).map(|i| cc.inputs.u32(i).and_then(|id| t(id as usize)));
                let outer = moves::concat_plan(cc, ids.clone().map_while(|r| r.ok()), &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let out_row = o.size / outer.max(1);
                let mut column = 0;
                for (k, x) in ids.enumerate() {
                    let x = x?;
                    let table = (!cc.tables.is_empty()).then(|| &cc.tables[256 * k..256 * (k + 1)]);
                    moves::concat_part(table, s.input(&x), outer, out_bytes, column, out_row);
                    column += x.size / outer.max(1);
                }
                Ok(())
            }
            Command::Pad(p) => {
                let (x, o) = (t(p.input)?, t(p.output)?);
                moves::pad_plan(p, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                moves::pad(p, x.shape.dims(), o.shape.dims(), s.elems(&x), out)
            }
            Command::Lookup(l) => {
                let (x, o) = (t(l.input)?, t(l.output)?);
                moves::lookup_plan(l, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                moves::lookup(l.table, s.input(&x), out_bytes);
                Ok(())
            }
            Command::PRelu(p) => {
                let (x, o) = (t(p.input)?, t(p.output)?);
                let strides = elementwise::prelu_plan(p, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                elementwise::prelu(p, strides, x.shape.dims(), s.elems(&x), out)
            }
            Command::Resize(r) => {
                let (x, o) = (t(r.input)?, t(r.output)?);
                let (xd, ohw) = resize_dims(&x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let xe = s.elems(&x);
                let mut out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                let kind = resize::TfliteResize {
                    bilinear: r.bilinear,
                    align_corners: r.align_corners,
                    half_pixel_centers: r.half_pixel_centers,
                };
                resize::resize_nhwc(kind, |i| xe.get(i), |i, v| out.set(i, v), xd, ohw);
                Ok(())
            }
            Command::Softmax(sm) => {
                let (x, o) = (t(sm.input)?, t(sm.output)?);
                let (dims, range) = softmax_dims(sm, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let xe = s.elems(&x);
                let mut out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                each_row(dims, |at| {
                    softmax::softmax_row(
                        dims[1],
                        |c| xe.get(at(c)),
                        |c, v| out.set(at(c), v),
                        (sm.multiplier, sm.left_shift),
                        range,
                    )
                });
                Ok(())
            }
            Command::Requantize(r) => {
                let (x, o) = (t(r.input)?, t(r.output)?);
                let range = requantize::requantize_plan(r, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let xe = s.elems(&x);
                let mut out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                let zero_points = (r.input_zero_point, r.output_zero_point);
                let multiplier = (r.requant.multiplier, r.requant.shift);
                for i in 0..x.elements() {
                    out.set(
                        i,
                        requantize::requantize(xe.get(i), zero_points, multiplier, range),
                    );
                }
                Ok(())
            }
            Command::Svdf(sv) => {
                let (x, o) = (t(sv.input)?, t(sv.output)?);
                let p = svdf::svdf_plan(sv, &x, &o)?;
                let (next, rest) = take_i32(scratch, p.batch * p.filters * p.memory)?;
                let (sums, _) = take_i32(rest, p.filters)?;
                let (s, out_bytes) = split(acts, o.range());
                let constant = |bytes, dtype| Elems { bytes, dtype };
                let operands = svdf::SvdfOperands {
                    x: &s.elems(&x),
                    weights_feature: &constant(sv.weights_feature, DType::I8),
                    weights_time: &constant(sv.weights_time, sv.state_type),
                    state: &constant(sv.state, sv.state_type),
                    bias: &constant(sv.bias, DType::I32),
                };
                let mut out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                svdf::svdf_step(&p, &operands, next, sums, |i, v| out.set(i, v));
                Ok(())
            }
            Command::TableSoftmax(sm) => {
                let (x, o) = (t(sm.input)?, t(sm.output)?);
                let (dims, range) = table_softmax_dims(sm, &x, &o)?;
                let (s, out_bytes) = split(acts, o.range());
                let xe = s.elems(&x);
                let mut out = ElemsMut {
                    bytes: out_bytes,
                    dtype: o.dtype,
                };
                let table = |i: usize| {
                    sm.table
                        .get(4 * i..4 * i + 4)
                        .map_or(0.0, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                };
                each_row(dims, |at| {
                    softmax::softmax_table_row(
                        dims[1],
                        |c| xe.get(at(c)),
                        |c, v| out.set(at(c), v),
                        table,
                        (sm.output_scale, sm.output_zero_point),
                        range,
                    )
                });
                Ok(())
            }
        }
    }
}

/// Round half to even of an f32 to an integer (NaN is 0, saturating).
fn round_half_even(v: f32) -> i64 {
    let t = v as i64;
    let frac = v - t as f32;
    let away = frac.abs() > 0.5 || (frac.abs() == 0.5 && t % 2 != 0);
    if away {
        t.saturating_add(if frac > 0.0 { 1 } else { -1 })
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_half_even_matches_std() {
        for v in [
            0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7, -3.7, 1e9, -1e9, 0.0,
        ] {
            assert_eq!(round_half_even(v), v.round_ties_even() as i64, "{v}");
        }
        assert_eq!(round_half_even(f32::INFINITY), i64::MAX);
    }
}
