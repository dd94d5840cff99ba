//! Convolutions (grouped, depthwise, transposed) and fully connected layers: int32
//! accumulation of `(w - w_zp) * (x - x_zp)`, bias, per-channel requantization, clamp.
//! Convolutions gather each output pixel's centered input taps once per group and take
//! one dot product per output channel (taps held as i16 when the input has 8 bits, so
//! the products vectorize as 16-bit multiply-adds); depthwise convolutions of 8-bit data
//! instead accumulate all channels of a pixel at once against their weights transposed
//! tap-major in scratch. Wrapping i32 sums are exact in any order, so every path equals
//! the interpreter's arithmetic bit for bit.

use crate::command::{Conv, FullyConnected};
use crate::error::{Error, Result};
use crate::schema::{TensorDesc, WeightBlock};
use crate::scratch::{take, take_i32, Plain, I32_SLACK};
use crate::tensor::{Elems, ElemsMut};
use crate::weights::Weights;

/// The geometry of a convolution on its tensors.
pub struct ConvPlan {
    n: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    cin_g: usize,
    cout_g: usize,
    groups: usize,
    /// Element strides (batch, y, x, channel) of input and output.
    xst: [usize; 4],
    ost: [usize; 4],
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
            xst,
            ost,
        })
    }

    fn taps(&self, c: &Conv) -> usize {
        c.kernel[0] * c.kernel[1] * self.cin_g
    }

    /// Kernel scratch bytes: the gathered taps, or for depthwise convolutions also the
    /// accumulators and the centered weights tap-major.
    pub fn scratch(&self, c: &Conv) -> usize {
        let gathered = 4 * self.taps(c) + I32_SLACK;
        if self.cin_g == 1 {
            let cout = self.cout_g * self.groups;
            gathered.max(4 * cout + I32_SLACK + 2 * c.kernel[0] * c.kernel[1] * cout + 1)
        } else {
            gathered
        }
    }
}

/// The input coordinate along `axis` (0: y, 1: x) that output coordinate `o` reads
/// through tap `k`, if inside `size`.
#[inline]
fn source(c: &Conv, axis: usize, o: usize, k: usize, size: usize) -> Option<usize> {
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

/// A centered input value as a tap: i16 for 8-bit inputs (differences of 8-bit codes and
/// an in-range zero point fit), else i32.
trait Tap: Plain {
    fn of(v: i32) -> Self;
    fn widen(self) -> i32;
}

impl Tap for i16 {
    #[inline]
    fn of(v: i32) -> Self {
        v as i16
    }
    #[inline]
    fn widen(self) -> i32 {
        self as i32
    }
}

impl Tap for i32 {
    #[inline]
    fn of(v: i32) -> Self {
        v
    }
    #[inline]
    fn widen(self) -> i32 {
        self
    }
}

/// Wrapping dot product of centered taps with a row of int8 weights.
#[inline(always)]
fn dot<T: Tap>(taps: &[T], w: &[u8]) -> i32 {
    taps.iter().zip(w).fold(0i32, |a, (&x, &w)| {
        a.wrapping_add(x.widen().wrapping_mul(w as i8 as i32))
    })
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
unsafe fn conv_avx2(
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
    let izp = c.stage.input_zero_point;
    let eight_bit = x.dtype.size() == 1 && (-255..=255).contains(&izp);
    // Centered int8 weights fit the depthwise path's i16 lanes.
    let weights_fit = wt.zero_points.iter().all(|z| (-128..=127).contains(z));
    if p.cin_g == 1 && !c.transposed && eight_bit && weights_fit {
        depthwise(c, p, x, o, wt, scratch)
    } else if eight_bit {
        gathered::<i16>(c, p, x, o, wt, scratch)
    } else {
        gathered::<i32>(c, p, x, o, wt, scratch)
    }
}

/// Any convolution: each pixel's taps gathered per group, one dot product per channel.
#[inline(always)]
fn gathered<T: Tap>(
    c: &Conv,
    p: &ConvPlan,
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    let (taps, _) = take::<T>(scratch, p.taps(c))?;
    let st = &c.stage;
    let (izp, ozp, range) = (
        st.input_zero_point,
        st.output_zero_point,
        (st.clamp.min, st.clamp.max),
    );
    let k = taps.len();
    for b in 0..p.n {
        for oy in 0..p.oh {
            for ox in 0..p.ow {
                let obase = b * p.ost[0] + oy * p.ost[1] + ox * p.ost[2];
                for g in 0..p.groups {
                    // Gather the centered taps of group g (zero outside the input).
                    let mut t = 0;
                    let mut sum = 0i32;
                    for ky in 0..c.kernel[0] {
                        let iy = source(c, 0, oy, ky, p.h);
                        for kx in 0..c.kernel[1] {
                            let ix = source(c, 1, ox, kx, p.w);
                            let row = &mut taps[t..t + p.cin_g];
                            t += p.cin_g;
                            match (iy, ix) {
                                (Some(iy), Some(ix)) => {
                                    let base = b * p.xst[0] + iy * p.xst[1] + ix * p.xst[2];
                                    for (ic, v) in row.iter_mut().enumerate() {
                                        let xi = base + (g * p.cin_g + ic) * p.xst[3];
                                        let centered = x.get(xi).wrapping_sub(izp);
                                        *v = T::of(centered);
                                        sum = sum.wrapping_add(centered);
                                    }
                                }
                                _ => row.fill(T::default()),
                            }
                        }
                    }
                    for oc in g * p.cout_g..(g + 1) * p.cout_g {
                        // A transposed convolution's taps follow `source`, so they read
                        // the same weights.
                        let row = &wt.weights[oc * k..(oc + 1) * k];
                        let acc = dot(taps, row).wrapping_sub(wt.zero_points[oc].wrapping_mul(sum));
                        o.set(obase + oc * p.ost[3], wt.requantize(acc, oc, ozp, range));
                    }
                }
            }
        }
    }
    Ok(())
}

/// A depthwise convolution of 8-bit data (one input channel per group, any multiplier):
/// per pixel, every channel accumulates at once over the taps inside the input.
#[inline(always)]
fn depthwise(
    c: &Conv,
    p: &ConvPlan,
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    let cout = p.cout_g * p.groups;
    let k = c.kernel[0] * c.kernel[1];
    let (acc, rest) = take::<i32>(scratch, cout)?;
    let (w, _) = take::<i16>(rest, k * cout)?;
    // Centered weights, tap-major: w[t * cout + oc] = weight(oc, t) - zero point(oc).
    for oc in 0..cout {
        let zp = wt.zero_points[oc];
        for t in 0..k {
            w[t * cout + oc] = (wt.weights[oc * k + t] as i8 as i32).wrapping_sub(zp) as i16;
        }
    }
    let st = &c.stage;
    let (izp, ozp, range) = (
        st.input_zero_point,
        st.output_zero_point,
        (st.clamp.min, st.clamp.max),
    );
    let contiguous = p.xst[3] == 1 && p.cout_g == 1;
    for b in 0..p.n {
        for oy in 0..p.oh {
            for ox in 0..p.ow {
                acc.fill(0);
                for ky in 0..c.kernel[0] {
                    let Some(iy) = source(c, 0, oy, ky, p.h) else {
                        continue;
                    };
                    for kx in 0..c.kernel[1] {
                        let Some(ix) = source(c, 1, ox, kx, p.w) else {
                            continue;
                        };
                        let base = b * p.xst[0] + iy * p.xst[1] + ix * p.xst[2];
                        let wrow = &w[(ky * c.kernel[1] + kx) * cout..][..cout];
                        if contiguous {
                            let xs = &x.bytes[base..base + cout];
                            let signed = x.dtype == crate::schema::DType::I8;
                            for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(wrow) {
                                let v = if signed { xv as i8 as i32 } else { xv as i32 };
                                *a = a.wrapping_add((v - izp).wrapping_mul(wv as i32));
                            }
                        } else {
                            for (oc, (a, &wv)) in acc.iter_mut().zip(wrow).enumerate() {
                                let xi = base + (oc / p.cout_g) * p.xst[3];
                                *a = a.wrapping_add(
                                    x.get(xi).wrapping_sub(izp).wrapping_mul(wv as i32),
                                );
                            }
                        }
                    }
                }
                let obase = b * p.ost[0] + oy * p.ost[1] + ox * p.ost[2];
                for (oc, &a) in acc.iter().enumerate() {
                    o.set(obase + oc * p.ost[3], wt.requantize(a, oc, ozp, range));
                }
            }
        }
    }
    Ok(())
}

/// The shape of a fully connected layer: (batch, inputs per row).
pub fn fc_plan(
    c: &FullyConnected,
    x: &TensorDesc,
    o: &TensorDesc,
    wb: &WeightBlock<'_>,
) -> Result<(usize, usize)> {
    int_tensor(x)?;
    int_tensor(o)?;
    let (nout, xl, ol) = (wb.channels, x.elements(), o.elements());
    let bad = || Error::malformed("fully connected layer does not match its tensors or weights");
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
    Ok((batch, k))
}

/// Runs fully connected layer `c` on `batch` rows of `k` inputs.
pub fn fully_connected(
    c: &FullyConnected,
    (batch, k): (usize, usize),
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    let (taps, _) = take_i32(scratch, k)?;
    let st = &c.stage;
    let nout = wt.zero_points.len();
    for b in 0..batch {
        let mut sum = 0i32;
        for (i, v) in taps.iter_mut().enumerate() {
            *v = x.get(b * k + i).wrapping_sub(st.input_zero_point);
            sum = sum.wrapping_add(*v);
        }
        for oc in 0..nout {
            let acc = dot(taps, &wt.weights[oc * k..(oc + 1) * k])
                .wrapping_sub(wt.zero_points[oc].wrapping_mul(sum));
            let v = wt.requantize(acc, oc, st.output_zero_point, (st.clamp.min, st.clamp.max));
            o.set(b * nout + oc, v);
        }
    }
    Ok(())
}
