//! Integer 2-D convolution (grouped, depthwise, dilated, padded) and fully connected
//! layers: wrapping i32 accumulation of `(x - x_zp) * (w - w_zp)`, then the output stage
//! ([`Requantize`]: bias, requantization, clamp) per output element.
//!
//! Activations are NHWC and convolution weights OHWI. Depthwise convolutions run as a
//! direct loop over contiguous channels; the rest as im2col blocks of output pixels times
//! packed weights ([`super::int_gemm`]). Blocks run in parallel on rayon's pool; each
//! output element is computed by the same instructions whatever the thread count.

use super::int_gemm::{fits_i16, gemm, padded_k, Lane, PackedWeights, MR};
use super::requant::Requantize;
use crate::{bail, Result};
use rayon::prelude::*;
use std::borrow::Cow;
use std::sync::OnceLock;

/// The shape and window of one 2-D convolution over NHWC activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    /// Input height, width and channels.
    pub input: [usize; 3],
    /// Output height, width and channels.
    pub output: [usize; 3],
    pub kernel: [usize; 2],
    pub groups: usize,
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// Padding before the first row and the first column.
    pub pads: [usize; 2],
}

impl ConvShape {
    /// Whether `other` is the same layer, whatever the batch (prepared weights fit both).
    fn same_layer(&self, other: &ConvShape) -> bool {
        ConvShape { batch: 0, ..*self } == ConvShape { batch: 0, ..*other }
    }

    /// Input channels per group.
    fn cin_g(&self) -> usize {
        self.input[2] / self.groups
    }

    /// Output channels per group.
    fn cout_g(&self) -> usize {
        self.output[2] / self.groups
    }

    /// Weights per output channel.
    fn per_channel(&self) -> usize {
        self.kernel[0] * self.kernel[1] * self.cin_g()
    }

    /// The input coordinate on `axis` (0: y, 1: x) read by output `o` through tap `k`, if
    /// inside the input.
    fn source(&self, axis: usize, o: usize, k: usize) -> Option<usize> {
        (o * self.strides[axis] + k * self.dilations[axis])
            .checked_sub(self.pads[axis])
            .filter(|&i| i < self.input[axis])
    }

    fn check_weights(&self, w: usize, zps: usize) -> Result<()> {
        let [_, _, cin] = self.input;
        let cout = self.output[2];
        let g = self.groups;
        if g == 0 || !cin.is_multiple_of(g) || !cout.is_multiple_of(g) {
            bail!("{cin} -> {cout} channels do not divide into {g} groups");
        }
        if w != cout * self.per_channel() || zps != cout {
            bail!(
                "conv weights do not match {cout} channels of {}",
                self.per_channel()
            );
        }
        Ok(())
    }

    fn check_data(&self, x: usize, out: usize) -> Result<()> {
        let [h, wd, cin] = self.input;
        let [oh, ow, cout] = self.output;
        if x != self.batch * h * wd * cin {
            bail!(
                "conv input has {x} values, expected {}",
                self.batch * h * wd * cin
            );
        }
        if out != self.batch * oh * ow * cout {
            bail!(
                "conv output has {out} values, expected {}",
                self.batch * oh * ow * cout
            );
        }
        Ok(())
    }
}

/// Smallest and largest value, widened.
fn range<T: Copy + Into<i32>>(v: &[T]) -> (i64, i64) {
    let (lo, hi) = v.iter().fold((i32::MAX, i32::MIN), |(lo, hi), &x| {
        let x = x.into();
        (lo.min(x), hi.max(x))
    });
    (lo.into(), hi.into())
}

/// Whether `(values - zero point)` fits the `i16` fast path for every zero point in
/// `zps`.
fn centered_fits((lo, hi): (i64, i64), zps: &[i32]) -> bool {
    let (zlo, zhi) = range(zps);
    let (lo, hi) = (lo - zhi, hi - zlo);
    lo > i32::MIN as i64 && hi < i32::MAX as i64 && fits_i16(lo as i32, hi as i32)
}

/// A layer's prepared weights, built on first use.
pub type PreparedWeights = OnceLock<ConvWeights>;

/// Convolution weights centered and laid out for the kernels once, to be reused across
/// calls (they depend on the weights and the shape only).
#[derive(Clone)]
pub struct ConvWeights {
    shape: ConvShape,
    packed: Packed,
}

#[derive(Clone)]
enum Packed {
    /// Depthwise: centered weights tap-major, `[kh * kw][channels]`.
    Depthwise(Vec<i32>),
    /// One packed matrix per group, in the fast `i16` lanes.
    Narrow(Vec<PackedWeights<i16>>),
    /// One packed matrix per group, in `i32` lanes.
    Wide(Vec<PackedWeights<i32>>),
}

impl ConvWeights {
    /// Prepares OHWI weights `w` (zero point per output channel) of convolution `s`.
    pub fn new<W: Copy + Into<i32>>(s: &ConvShape, w: &[W], w_zps: &[i32]) -> Result<Self> {
        s.check_weights(w.len(), w_zps.len())?;
        let (cout_g, k) = (s.cout_g(), s.per_channel());
        let centered = |oc: usize, i: usize| w[oc * k + i].into().wrapping_sub(w_zps[oc]);
        let packed = if s.cin_g() == 1 && cout_g == 1 {
            let (c, taps) = (s.output[2], k);
            let mut wt = vec![0i32; taps * c];
            for oc in 0..c {
                for t in 0..taps {
                    wt[t * c + oc] = centered(oc, t);
                }
            }
            Packed::Depthwise(wt)
        } else {
            let packs = |g: usize| {
                let centered = &centered;
                move |j: usize, i: usize| centered(g * cout_g + j, i)
            };
            if centered_fits(range(w), w_zps) {
                Packed::Narrow(
                    (0..s.groups)
                        .map(|g| PackedWeights::new(cout_g, k, packs(g)))
                        .collect(),
                )
            } else {
                Packed::Wide(
                    (0..s.groups)
                        .map(|g| PackedWeights::new(cout_g, k, packs(g)))
                        .collect(),
                )
            }
        };
        Ok(ConvWeights { shape: *s, packed })
    }

    /// The weights `make` prepares, kept in `slot` (a caller's per-layer cache, given when
    /// the weights are constants) for later calls.
    pub fn cached(
        slot: Option<&PreparedWeights>,
        make: impl FnOnce() -> Result<ConvWeights>,
    ) -> Result<Cow<'_, ConvWeights>> {
        let Some(slot) = slot else {
            return make().map(Cow::Owned);
        };
        if let Some(w) = slot.get() {
            return Ok(Cow::Borrowed(w));
        }
        let w = make()?;
        Ok(Cow::Borrowed(slot.get_or_init(|| w)))
    }

    /// Prepares fully connected weights: `n = w_zps.len()` output channels of `k` inputs,
    /// `w(j, i)` the raw weight of channel `j` at input `i`, run as a 1x1 convolution.
    pub fn fully_connected(
        k: usize,
        w: impl Fn(usize, usize) -> i32,
        w_zps: &[i32],
    ) -> Result<Self> {
        let n = w_zps.len();
        let flat: Vec<i32> = (0..n)
            .flat_map(|j| (0..k).map(move |i| (j, i)))
            .map(|(j, i)| w(j, i))
            .collect();
        ConvWeights::new(&fc_shape(1, k, n), &flat, w_zps)
    }
}

/// A fully connected layer of `rows` rows as a 1x1 convolution.
fn fc_shape(rows: usize, k: usize, n: usize) -> ConvShape {
    ConvShape {
        batch: rows,
        input: [1, 1, k],
        output: [1, 1, n],
        kernel: [1, 1],
        groups: 1,
        strides: [1, 1],
        dilations: [1, 1],
        pads: [0, 0],
    }
}

/// Integer convolution of NHWC `x` (zero point `x_zp`) with OHWI weights `w` (zero point
/// per output channel) into NHWC `out`, each accumulator through `stage`.
pub fn conv2d<T: Copy + Into<i32> + Sync, W: Copy + Into<i32>>(
    s: &ConvShape,
    x: &[T],
    x_zp: i32,
    w: &[W],
    w_zps: &[i32],
    out: &mut [i32],
    stage: &Requantize<'_>,
) -> Result<()> {
    conv2d_prepared(s, x, x_zp, &ConvWeights::new(s, w, w_zps)?, out, stage)
}

/// [`conv2d`] with weights prepared by [`ConvWeights::new`] for the same layer (any batch).
pub fn conv2d_prepared<T: Copy + Into<i32> + Sync>(
    s: &ConvShape,
    x: &[T],
    x_zp: i32,
    w: &ConvWeights,
    out: &mut [i32],
    stage: &Requantize<'_>,
) -> Result<()> {
    if !s.same_layer(&w.shape) {
        bail!("conv weights were prepared for {:?}, not {s:?}", w.shape);
    }
    s.check_data(x.len(), out.len())?;
    stage.check(s.output[2])?;
    if out.is_empty() {
        return Ok(());
    }
    let fast = centered_fits(range(x), &[x_zp]);
    match &w.packed {
        Packed::Depthwise(wt) => depthwise(s, x, x_zp, wt, out, stage),
        Packed::Narrow(packs) if fast => im2col_conv(s, x, x_zp, packs, out, stage),
        Packed::Narrow(packs) => {
            let wide: Vec<PackedWeights<i32>> = packs.iter().map(PackedWeights::widen).collect();
            im2col_conv(s, x, x_zp, &wide, out, stage)
        }
        Packed::Wide(packs) => im2col_conv(s, x, x_zp, packs, out, stage),
    }
    Ok(())
}

/// Output pixels per parallel block for im2col rows of `kp` values.
fn block_rows(kp: usize) -> usize {
    ((1 << 15) / kp.max(1)).clamp(MR, 64) / MR * MR
}

fn im2col_conv<E: Lane, T: Copy + Into<i32> + Sync>(
    s: &ConvShape,
    x: &[T],
    x_zp: i32,
    packs: &[PackedWeights<E>],
    out: &mut [i32],
    stage: &Requantize<'_>,
) {
    let (cout, cout_g) = (s.output[2], s.cout_g());
    let kp = padded_k(s.per_channel());
    let rows = block_rows(kp);
    out.par_chunks_mut(rows * cout)
        .enumerate()
        .for_each(|(bi, o)| {
            let n = o.len() / cout;
            let mut patches = vec![E::default(); n * kp];
            for (g, pack) in packs.iter().enumerate() {
                im2col(s, x, x_zp, g, bi * rows, n, kp, &mut patches);
                let c0 = g * cout_g;
                gemm(&patches, n, pack, &mut o[c0..], cout);
                for row in o.chunks_exact_mut(cout) {
                    stage.apply_row(&mut row[c0..c0 + cout_g], c0);
                }
            }
        });
}

/// Fills `patches` (`n` rows of `kp` values) with the centered inputs that output pixels
/// `p0..p0 + n` read in group `g`, in kernel-row, kernel-column, channel order; taps in
/// the padding and the row tails are zero.
#[allow(clippy::too_many_arguments)]
fn im2col<E: Lane, T: Copy + Into<i32>>(
    s: &ConvShape,
    x: &[T],
    x_zp: i32,
    g: usize,
    p0: usize,
    n: usize,
    kp: usize,
    patches: &mut [E],
) {
    let [h, wd, cin] = s.input;
    let [oh, ow, _] = s.output;
    let [kh, kw] = s.kernel;
    let cin_g = s.cin_g();
    patches.fill(E::default());
    for (r, row) in patches.chunks_exact_mut(kp).enumerate().take(n) {
        let p = p0 + r;
        let (b, oy, ox) = (p / (oh * ow), p / ow % oh, p % ow);
        for ky in 0..kh {
            let Some(iy) = s.source(0, oy, ky) else {
                continue;
            };
            for kx in 0..kw {
                let Some(ix) = s.source(1, ox, kx) else {
                    continue;
                };
                let src = &x[((b * h + iy) * wd + ix) * cin + g * cin_g..][..cin_g];
                let dst = &mut row[(ky * kw + kx) * cin_g..][..cin_g];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = E::from_i32(v.into().wrapping_sub(x_zp));
                }
            }
        }
    }
}

/// Depthwise convolution with one output channel per input channel: per output pixel,
/// the taps' channel rows (`wt`, tap-major) are multiplied and accumulated as vectors.
fn depthwise<T: Copy + Into<i32> + Sync>(
    s: &ConvShape,
    x: &[T],
    x_zp: i32,
    wt: &[i32],
    out: &mut [i32],
    stage: &Requantize<'_>,
) {
    let [h, wd, c] = s.input;
    let [oh, ow, _] = s.output;
    let [kh, kw] = s.kernel;
    out.par_chunks_mut(ow * c).enumerate().for_each(|(row, o)| {
        let (b, oy) = (row / oh, row % oh);
        let mut acc = vec![0i32; c];
        for (ox, o) in o.chunks_exact_mut(c).enumerate() {
            acc.fill(0);
            for ky in 0..kh {
                let Some(iy) = s.source(0, oy, ky) else {
                    continue;
                };
                for kx in 0..kw {
                    let Some(ix) = s.source(1, ox, kx) else {
                        continue;
                    };
                    let xr = &x[((b * h + iy) * wd + ix) * c..][..c];
                    mac_row(&mut acc, xr, x_zp, &wt[(ky * kw + kx) * c..][..c]);
                }
            }
            o.copy_from_slice(&acc);
            stage.apply_row(o, 0);
        }
    });
}

/// `acc[i] += (x[i] - x_zp) * w[i]`, wrapping.
fn mac_row<T: Copy + Into<i32>>(acc: &mut [i32], x: &[T], x_zp: i32, w: &[i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is available.
        unsafe { mac_row_avx2(acc, x, x_zp, w) };
        return;
    }
    mac_row_portable(acc, x, x_zp, w);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn mac_row_avx2<T: Copy + Into<i32>>(acc: &mut [i32], x: &[T], x_zp: i32, w: &[i32]) {
    mac_row_portable(acc, x, x_zp, w);
}

#[inline(always)]
fn mac_row_portable<T: Copy + Into<i32>>(acc: &mut [i32], x: &[T], x_zp: i32, w: &[i32]) {
    for ((a, &xv), &wv) in acc.iter_mut().zip(x).zip(w) {
        *a = a.wrapping_add(xv.into().wrapping_sub(x_zp).wrapping_mul(wv));
    }
}

/// Integer fully connected layer: `rows` rows of inputs in `x` (zero point `x_zp`) times
/// weights prepared by [`ConvWeights::fully_connected`]; `out[r * n + j]` is channel `j`'s
/// accumulator through `stage`.
pub fn fully_connected<T: Copy + Into<i32> + Sync>(
    x: &[T],
    x_zp: i32,
    rows: usize,
    w: &ConvWeights,
    out: &mut [i32],
    stage: &Requantize<'_>,
) -> Result<()> {
    let [_, _, k] = w.shape.input;
    let n = w.shape.output[2];
    if rows == 0 {
        return Ok(());
    }
    if x.len() != rows * k || out.len() != rows * n {
        bail!(
            "fully connected: {} inputs and {} outputs are not {rows} rows of {k} -> {n}",
            x.len(),
            out.len()
        );
    }
    conv2d_prepared(&fc_shape(rows, k, n), x, x_zp, w, out, stage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::requant::tests::test_stage;
    use rand::{RngExt, SeedableRng};

    /// The direct definition: every output element summed tap by tap.
    fn reference(s: &ConvShape, x: &[i32], x_zp: i32, w: &[i32], w_zps: &[i32]) -> Vec<i32> {
        let [h, wd, cin] = s.input;
        let [oh, ow, cout] = s.output;
        let [kh, kw] = s.kernel;
        let (cin_g, cout_g) = (s.cin_g(), s.cout_g());
        let mut out = vec![0; s.batch * oh * ow * cout];
        for b in 0..s.batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for oc in 0..cout {
                        let mut acc = 0i32;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (Some(iy), Some(ix)) =
                                    (s.source(0, oy, ky), s.source(1, ox, kx))
                                else {
                                    continue;
                                };
                                for ic in 0..cin_g {
                                    let xi =
                                        ((b * h + iy) * wd + ix) * cin + oc / cout_g * cin_g + ic;
                                    let wi = ((oc * kh + ky) * kw + kx) * cin_g + ic;
                                    acc = acc.wrapping_add(
                                        (x[xi] - x_zp).wrapping_mul(w[wi] - w_zps[oc]),
                                    );
                                }
                            }
                        }
                        out[((b * oh + oy) * ow + ox) * cout + oc] = acc;
                    }
                }
            }
        }
        out
    }

    /// Plain, grouped, depthwise (with and without multiplier), strided, dilated and
    /// padded convolutions, in int8 range (the i16 path) and int16 range (the i32 path),
    /// against the direct definition.
    #[test]
    fn matches_the_direct_definition() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
        let cases = [
            // (batch, h, w, cin, cout, k, groups, stride, dilation, pad)
            (1, 5, 5, 3, 8, 3, 1, 1, 1, 1),
            (2, 7, 6, 4, 20, 3, 1, 2, 1, 1),
            (1, 9, 9, 6, 6, 3, 6, 1, 1, 1),
            (1, 8, 8, 16, 16, 3, 16, 2, 1, 0),
            (1, 6, 6, 4, 8, 3, 4, 1, 2, 2),
            (1, 6, 5, 8, 12, 1, 2, 1, 1, 0),
            (1, 4, 4, 33, 17, 2, 1, 1, 1, 0),
        ];
        for (batch, h, wd, cin, cout, k, groups, stride, dil, pad) in cases {
            let span = dil * (k - 1) + 1;
            let out_size = |n: usize| (n + 2 * pad - span) / stride + 1;
            let s = ConvShape {
                batch,
                input: [h, wd, cin],
                output: [out_size(h), out_size(wd), cout],
                kernel: [k, k],
                groups,
                strides: [stride; 2],
                dilations: [dil; 2],
                pads: [pad; 2],
            };
            for limit in [127, 30000] {
                let x: Vec<i32> = (0..batch * h * wd * cin)
                    .map(|_| rng.random_range(-limit..=limit))
                    .collect();
                let w: Vec<i32> = (0..cout * s.per_channel())
                    .map(|_| rng.random_range(-limit..=limit))
                    .collect();
                let zps: Vec<i32> = (0..cout).map(|_| rng.random_range(-3..=3)).collect();
                let params = test_stage(&mut rng, cout);
                let stage = params.stage();
                let want: Vec<i32> = reference(&s, &x, 5, &w, &zps)
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| stage.apply(v, i % cout))
                    .collect();
                let mut got = vec![0; want.len()];
                conv2d(&s, &x, 5, &w, &zps, &mut got, &stage).unwrap();
                assert_eq!(got, want, "{s:?} limit {limit}");
            }
        }
    }

    #[test]
    fn mismatched_lengths_are_errors() {
        let s = ConvShape {
            batch: 1,
            input: [4, 4, 2],
            output: [4, 4, 2],
            kernel: [3, 3],
            groups: 1,
            strides: [1; 2],
            dilations: [1; 2],
            pads: [1; 2],
        };
        let mut out = vec![0; 32];
        let stage = Requantize {
            bias: &[0; 2],
            multiplier: &[1 << 30; 2],
            shift: &[0; 2],
            zero_point: 0,
            range: (-128, 127),
        };
        let err = conv2d(&s, &[0; 31], 0, &[0i32; 36], &[0; 2], &mut out, &stage);
        assert!(err.unwrap_err().to_string().contains("input has 31 values"));
    }
}
