//! Convolutions (grouped, depthwise, transposed) and fully connected layers: int32
//! accumulation of `(w - w_zp) * (x - x_zp)`, bias, per-channel requantization, clamp.
//! Convolutions gather the centered input taps of a tile of output pixels once per group
//! and multiply them with every channel's weights ([`super::dot`]); depthwise
//! convolutions of 8-bit data instead accumulate all channels of a pixel at once against
//! their weights transposed tap-major in scratch. Each pixel's row of accumulators then
//! goes through the output stage together ([`super::stage`]). Wrapping i32 sums are exact
//! in any order, so every path equals the interpreter's arithmetic bit for bit.

use super::depthwise;
use super::dot::{Tap, ROWS};
use crate::command::{Conv, FullyConnected};
use crate::error::{Error, Result};
use crate::schema::{TensorDesc, WeightBlock};
use crate::scratch::{take, take_i32, I32_SLACK};
use crate::tensor::{Elems, ElemsMut};
use crate::weights::Weights;

/// The geometry of a convolution on its tensors.
pub struct ConvPlan {
    pub(super) n: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
    pub(super) cin_g: usize,
    pub(super) cout_g: usize,
    pub(super) groups: usize,
    /// Whether the input has 8 bits and an in-range zero point: taps fit `i16`.
    pub(super) eight_bit: bool,
    /// Element strides (batch, y, x, channel) of input and output.
    pub(super) xst: [usize; 4],
    pub(super) ost: [usize; 4],
}

/// (batch, height, width, channels) of a 4-D tensor and its element strides.
fn dims(t: &TensorDesc, nchw: bool) -> Result<([usize; 4], [usize; 4])> {
    let &[a, b, c, d] = t.shape.dims() else {
        return Err(Error::malformed("convolution tensor is not 4-D"));
    };
    Ok(if nchw {
        ([a, c, d, b], [b * c * d, d, 1, c * d])
    } else {
        ([a, b, c, d], [b * c * d, c * d, d, 1])
    })
}

fn int_tensor(t: &TensorDesc) -> Result<()> {
    t.dtype.int_range().map(|_| ()).ok_or(Error::new(
        crate::ErrorKind::Unsupported,
        "command on non-integer data",
    ))
}

impl ConvPlan {
    /// Checks `c` against its tensors and weight block.
    pub fn new(c: &Conv, x: &TensorDesc, o: &TensorDesc, wb: &WeightBlock<'_>) -> Result<Self> {
        int_tensor(x)?;
        int_tensor(o)?;
        let ([n, h, w, cin], xst) = dims(x, c.nchw)?;
        let ([on, oh, ow, cout], ost) = dims(o, c.nchw)?;
        let [kh, kw] = c.kernel;
        let g = c.groups;
        let ok = n == on
            && cin % g == 0
            && cout % g == 0
            && kh > 0
            && kw > 0
            && c.strides.iter().all(|&s| s > 0)
            && c.dilations.iter().all(|&d| d > 0)
            && (!c.transposed || g == 1)
            && c.stage.clamp.min <= c.stage.clamp.max
            && wb.channels == cout;
        let per_channel = kh
            .checked_mul(kw)
            .and_then(|k| k.checked_mul(cin / g.max(1)));
        if !ok || per_channel.and_then(|k| k.checked_mul(cout)) != Some(wb.weights.len) {
            return Err(Error::malformed(
                "convolution does not match its tensors or weights",
            ));
        }
        // Tap coordinates stay far from overflow.
        let big = |v: usize| v > 1 << 24;
        if [h, w, oh, ow, kh, kw].iter().any(|&v| big(v))
            || c.strides
                .iter()
                .chain(&c.dilations)
                .chain(&c.pads)
                .any(|&v| big(v))
        {
            return Err(Error::malformed("convolution geometry out of range"));
        }
        Ok(ConvPlan {
            n,
            h,
            w,
            oh,
            ow,
            cin_g: cin / g,
            cout_g: cout / g,
            groups: g,
            eight_bit: eight_bit(x, c.stage.input_zero_point),
            xst,
            ost,
        })
    }

    fn taps(&self, c: &Conv) -> usize {
        c.kernel[0] * c.kernel[1] * self.cin_g
    }

    /// Kernel scratch bytes: a tile of gathered taps and its accumulators, or for
    /// depthwise convolutions the accumulators and the centered weights tap-major.
    pub fn scratch(&self, c: &Conv) -> usize {
        let rows = ROWS.min(self.n * self.oh * self.ow);
        let gathered = tile_scratch(self.eight_bit, rows, self.taps(c), self.cout_g);
        if self.depthwise_shape(c) {
            gathered.max(depthwise::scratch(self, c))
        } else {
            gathered
        }
    }

    /// One input channel per group, several groups: the depthwise path's shape.
    fn depthwise_shape(&self, c: &Conv) -> bool {
        self.cin_g == 1 && self.groups > 1 && !c.transposed
    }

    /// Batch, y and x of output pixel `i` (row-major).
    #[inline(always)]
    pub(super) fn pixel(&self, i: usize) -> (usize, usize, usize) {
        (i / (self.oh * self.ow), i / self.ow % self.oh, i % self.ow)
    }
}

/// Whether `x` has 8 bits and `zero_point` keeps centered values in `i16`.
fn eight_bit(x: &TensorDesc, zero_point: i32) -> bool {
    x.dtype.size() == 1 && (-255..=255).contains(&zero_point)
}

/// Scratch bytes of a tile of `rows` gathered rows of `k` taps and their accumulators
/// for `n` channels.
fn tile_scratch(eight_bit: bool, rows: usize, k: usize, n: usize) -> usize {
    let taps = if eight_bit {
        2 * rows * k.next_multiple_of(i16::PAD) + 1
    } else {
        4 * rows * k + I32_SLACK
    };
    taps + 4 * rows * n + I32_SLACK
}

/// The input coordinate along `axis` (0: y, 1: x) that output coordinate `o` reads
/// through tap `k`, if inside `size`.
#[inline]
pub(super) fn source(c: &Conv, axis: usize, o: usize, k: usize, size: usize) -> Option<usize> {
    let (stride, tap, pad) = (c.strides[axis], k * c.dilations[axis], c.pads[axis]);
    let i = if c.transposed {
        let v = (o + pad).checked_sub(tap)?;
        if v % stride != 0 {
            return None;
        }
        v / stride
    } else {
        (o * stride + tap).checked_sub(pad)?
    };
    (i < size).then_some(i)
}

/// Runs convolution `c` planned as `p`.
pub fn conv(
    c: &Conv,
    p: &ConvPlan,
    x: Elems<'_>,
    o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { conv_avx2(c, p, x, o, wt, scratch) };
    }
    conv_any(c, p, x, o, wt, scratch)
}

/// [`conv_any`] compiled for AVX2 (the same integer operations, wider vectors).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn conv_avx2(
    c: &Conv,
    p: &ConvPlan,
    x: Elems<'_>,
    o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    conv_any(c, p, x, o, wt, scratch)
}

/// Chooses the path for `c`'s data and runs it.
#[inline(always)]
fn conv_any(
    c: &Conv,
    p: &ConvPlan,
    x: Elems<'_>,
    o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    // Centered int8 weights fit the depthwise path's i16 lanes.
    let weights_fit = wt.zero_points.iter().all(|z| (-128..=127).contains(z));
    if p.depthwise_shape(c) && p.eight_bit && weights_fit {
        depthwise::depthwise(c, p, x, o, wt, scratch)
    } else if p.eight_bit {
        gathered::<i16>(c, p, x, o, wt, scratch)
    } else {
        gathered::<i32>(c, p, x, o, wt, scratch)
    }
}

/// Any convolution: the taps of up to [`ROWS`] output pixels gathered per group, then
/// multiplied with every channel of the group.
#[inline(always)]
fn gathered<T: Tap>(
    c: &Conv,
    p: &ConvPlan,
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    let k = p.taps(c);
    let stride = k.next_multiple_of(T::PAD);
    let pixels = p.n * p.oh * p.ow;
    if pixels == 0 || p.cout_g == 0 {
        return Ok(());
    }
    let tile = ROWS.min(pixels);
    let (taps, rest) = take::<T>(scratch, tile * stride)?;
    let (acc, _) = take_i32(rest, tile * p.cout_g)?;
    let st = &c.stage;
    let stage = wt.stage(st.output_zero_point, (st.clamp.min, st.clamp.max));
    // 8-bit NHWC input of one group, no column dilation: each kernel row's taps inside
    // the input are one run of bytes.
    let dense = x.dtype.size() == 1
        && p.xst[3] == 1
        && p.xst[2] == p.cin_g
        && c.dilations[1] == 1
        && !c.transposed;
    let mut sums = [0i32; ROWS];
    for p0 in (0..pixels).step_by(ROWS) {
        let rows = ROWS.min(pixels - p0);
        for g in 0..p.groups {
            for (r, sum) in sums.iter_mut().enumerate().take(rows) {
                let row = &mut taps[r * stride..][..stride];
                *sum = if dense {
                    gather_dense(c, p, &x, p.pixel(p0 + r), row)
                } else {
                    gather(c, p, &x, g, p.pixel(p0 + r), row)
                };
            }
            let c0 = g * p.cout_g;
            let w = &wt.weights[c0 * k..(c0 + p.cout_g) * k];
            T::dots(taps, stride, rows, w, (k, p.cout_g), acc);
            let (zps, stage) = (&wt.zero_points[c0..], stage.from_channel(c0));
            for (r, row) in acc.chunks_exact_mut(p.cout_g).take(rows).enumerate() {
                correct_zero_points(row, zps, sums[r]);
                stage.apply_row(row);
                let (b, oy, ox) = p.pixel(p0 + r);
                let base = b * p.ost[0] + oy * p.ost[1] + ox * p.ost[2] + c0 * p.ost[3];
                o.set_run(base, p.ost[3], row);
            }
        }
    }
    Ok(())
}

/// Writes the centered taps that output pixel `(b, oy, ox)` reads in group `g` into
/// `row` (kernel row, kernel column, channel order; zero outside the input and after the
/// taps); returns their wrapping sum.
#[inline(always)]
fn gather<T: Tap>(
    c: &Conv,
    p: &ConvPlan,
    x: &Elems<'_>,
    g: usize,
    (b, oy, ox): (usize, usize, usize),
    row: &mut [T],
) -> i32 {
    let izp = c.stage.input_zero_point;
    let contiguous = x.dtype.size() == 1 && p.xst[3] == 1;
    let signed = x.dtype == crate::schema::DType::I8;
    let mut sum = 0i32;
    let mut t = 0;
    for ky in 0..c.kernel[0] {
        let iy = source(c, 0, oy, ky, p.h);
        for kx in 0..c.kernel[1] {
            let ix = source(c, 1, ox, kx, p.w);
            let dst = &mut row[t..t + p.cin_g];
            t += p.cin_g;
            let (Some(iy), Some(ix)) = (iy, ix) else {
                dst.fill(T::default());
                continue;
            };
            let base = b * p.xst[0] + iy * p.xst[1] + ix * p.xst[2] + g * p.cin_g * p.xst[3];
            if contiguous {
                let src = &x.bytes[base..base + p.cin_g];
                sum = sum.wrapping_add(center(src, dst, signed, izp));
            } else {
                for (ic, d) in dst.iter_mut().enumerate() {
                    let v = x.get(base + ic * p.xst[3]).wrapping_sub(izp);
                    *d = T::of(v);
                    sum = sum.wrapping_add(v);
                }
            }
        }
    }
    row[t..].fill(T::default());
    sum
}

/// [`gather`] for dense 8-bit input (see `gathered`): per kernel row, the columns inside
/// the input found arithmetically and converted as one run.
#[inline(always)]
fn gather_dense<T: Tap>(
    c: &Conv,
    p: &ConvPlan,
    x: &Elems<'_>,
    (b, oy, ox): (usize, usize, usize),
    row: &mut [T],
) -> i32 {
    let (kw, cin) = (c.kernel[1], p.cin_g);
    let run = kw * cin;
    // Input column of kernel column 0; columns lo..hi are inside the input.
    let start = (ox * c.strides[1]) as i64 - c.pads[1] as i64;
    let lo = (-start).clamp(0, kw as i64);
    let hi = (p.w as i64 - start).clamp(lo, kw as i64);
    let (lo, hi) = (lo as usize, hi as usize);
    let signed = x.dtype == crate::schema::DType::I8;
    let mut sum = 0i32;
    for ky in 0..c.kernel[0] {
        let dst = &mut row[ky * run..(ky + 1) * run];
        let iy = source(c, 0, oy, ky, p.h);
        let Some(iy) = iy.filter(|_| lo < hi) else {
            dst.fill(T::default());
            continue;
        };
        dst[..lo * cin].fill(T::default());
        dst[hi * cin..].fill(T::default());
        let ix = (start + lo as i64) as usize;
        let base = b * p.xst[0] + iy * p.xst[1] + ix * p.xst[2];
        let src = &x.bytes[base..base + (hi - lo) * cin];
        let centered = center(
            src,
            &mut dst[lo * cin..hi * cin],
            signed,
            c.stage.input_zero_point,
        );
        sum = sum.wrapping_add(centered);
    }
    row[c.kernel[0] * run..].fill(T::default());
    sum
}

/// Writes the 8-bit codes `src` minus `zero_point` into `dst`; returns their sum.
#[inline(always)]
fn center<T: Tap>(src: &[u8], dst: &mut [T], signed: bool, zero_point: i32) -> i32 {
    let mut sum = 0i32;
    for (d, &v) in dst.iter_mut().zip(src) {
        let v = if signed { v as i8 as i32 } else { v as i32 } - zero_point;
        *d = T::of(v);
        sum = sum.wrapping_add(v);
    }
    sum
}

/// Subtracts `zero_point[c] * sum` from each channel's accumulator: the weights' zero
/// points, applied once per pixel instead of per product.
#[inline(always)]
fn correct_zero_points(row: &mut [i32], zero_points: &[i32], sum: i32) {
    if sum != 0 {
        for (a, &z) in row.iter_mut().zip(zero_points) {
            *a = a.wrapping_sub(z.wrapping_mul(sum));
        }
    }
}

/// The shape of a fully connected layer.
pub struct FcPlan {
    batch: usize,
    /// Inputs per row.
    k: usize,
    eight_bit: bool,
}

impl FcPlan {
    /// Checks `c` against its tensors and weight block.
    pub fn new(
        c: &FullyConnected,
        x: &TensorDesc,
        o: &TensorDesc,
        wb: &WeightBlock<'_>,
    ) -> Result<Self> {
        int_tensor(x)?;
        int_tensor(o)?;
        let (nout, xl, ol) = (wb.channels, x.elements(), o.elements());
        let bad =
            || Error::malformed("fully connected layer does not match its tensors or weights");
        if nout == 0 || ol % nout != 0 || c.stage.clamp.min > c.stage.clamp.max {
            return Err(bad());
        }
        let batch = ol / nout;
        if xl % batch.max(1) != 0 {
            return Err(bad());
        }
        let k = xl / batch.max(1);
        if k.checked_mul(nout) != Some(wb.weights.len) {
            return Err(bad());
        }
        let eight_bit = eight_bit(x, c.stage.input_zero_point);
        Ok(FcPlan {
            batch,
            k,
            eight_bit,
        })
    }

    /// Kernel scratch bytes for `channels` outputs per row.
    pub fn scratch(&self, channels: usize) -> usize {
        tile_scratch(self.eight_bit, ROWS.min(self.batch), self.k, channels)
    }
}

/// Runs fully connected layer `c` planned as `p`.
pub fn fully_connected(
    c: &FullyConnected,
    p: &FcPlan,
    x: Elems<'_>,
    o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    if p.eight_bit {
        fc_rows::<i16>(c, p, x, o, wt, scratch)
    } else {
        fc_rows::<i32>(c, p, x, o, wt, scratch)
    }
}

/// Up to [`ROWS`] rows at a time against every channel's weights.
fn fc_rows<T: Tap>(
    c: &FullyConnected,
    p: &FcPlan,
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    let (k, nout) = (p.k, wt.zero_points.len());
    let stride = k.next_multiple_of(T::PAD);
    let tile = ROWS.min(p.batch);
    let (taps, rest) = take::<T>(scratch, tile * stride)?;
    let (acc, _) = take_i32(rest, tile * nout)?;
    let st = &c.stage;
    let stage = wt.stage(st.output_zero_point, (st.clamp.min, st.clamp.max));
    let mut sums = [0i32; ROWS];
    for b0 in (0..p.batch).step_by(ROWS) {
        let rows = ROWS.min(p.batch - b0);
        for (r, sum) in sums.iter_mut().enumerate().take(rows) {
            let row = &mut taps[r * stride..][..stride];
            *sum = 0;
            for (i, v) in row[..k].iter_mut().enumerate() {
                let centered = x.get((b0 + r) * k + i).wrapping_sub(st.input_zero_point);
                *v = T::of(centered);
                *sum = sum.wrapping_add(centered);
            }
            row[k..].fill(T::default());
        }
        T::dots(taps, stride, rows, wt.weights, (k, nout), acc);
        for (r, row) in acc.chunks_exact_mut(nout).take(rows).enumerate() {
            correct_zero_points(row, wt.zero_points, sums[r]);
            stage.apply_row(row);
            o.set_run((b0 + r) * nout, 1, row);
        }
    }
    Ok(())
}
