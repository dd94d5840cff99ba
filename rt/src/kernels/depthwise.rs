//! Depthwise convolutions of 8-bit data (one input channel per group, any multiplier):
//! per output pixel, every channel accumulates at once over the taps inside the input,
//! then the row goes through the output stage.
//!
//! The AVX2 path (NHWC input, multiplier 1) takes the taps in pairs: the two taps' 16
//! channels are interleaved so that one `vpmaddwd` adds both products of eight channels,
//! against weights laid out the same way once per command. Other layouts take the
//! portable loop over taps.

use super::conv::{source, ConvPlan};
use crate::command::Conv;
use crate::error::Result;
use crate::scratch::{take, I32_SLACK};
use crate::tensor::{Elems, ElemsMut};
use crate::weights::Weights;

/// Channels per vector block of the AVX2 path.
const BLOCK: usize = 16;

/// Scratch bytes: accumulators (channels rounded up to a block), the centered weights
/// (tap-major, or tap pairs by channel block), and each tap's input offset.
pub(super) fn scratch(p: &ConvPlan, c: &Conv) -> usize {
    let cout = (p.cout_g * p.groups).next_multiple_of(BLOCK);
    let taps = c.kernel[0] * c.kernel[1];
    4 * cout + I32_SLACK + 2 * taps.next_multiple_of(2) * cout + 1 + 8 * taps + 7
}

/// Runs depthwise convolution `c` planned as `p` (8-bit input, weight zero points in
/// int8's range).
#[inline(always)]
pub(super) fn depthwise(
    c: &Conv,
    p: &ConvPlan,
    x: Elems<'_>,
    mut o: ElemsMut<'_>,
    wt: &Weights<'_>,
    scratch: &mut [u8],
) -> Result<()> {
    let cout = p.cout_g * p.groups;
    let padded = cout.next_multiple_of(BLOCK);
    let k = c.kernel[0] * c.kernel[1];
    let (acc, rest) = take::<i32>(scratch, padded)?;
    let (w, rest) = take::<i16>(rest, k.next_multiple_of(2) * padded)?;
    let (offsets, _) = take::<usize>(rest, k)?;
    let centered = |oc: usize, t: usize| {
        (wt.weights[oc * k + t] as i8 as i32).wrapping_sub(wt.zero_points[oc]) as i16
    };
    let st = &c.stage;
    let stage = wt.stage(st.output_zero_point, (st.clamp.min, st.clamp.max));
    let interleaved = p.xst[3] == 1 && p.cout_g == 1;
    #[cfg(target_arch = "x86_64")]
    if interleaved && crate::simd::avx2() {
        for (t, pair) in w.chunks_exact_mut(2 * padded).enumerate() {
            lay_out_pair(pair, |oc, i| {
                let tap = 2 * t + i;
                if oc < cout && tap < k {
                    centered(oc, tap)
                } else {
                    0
                }
            });
        }
        for i in 0..p.n * p.oh * p.ow {
            let (b, oy, ox) = p.pixel(i);
            tap_offsets(c, p, (b, oy, ox), offsets);
            let (zp, weights) = (st.input_zero_point, (&*w, wt));
            // SAFETY: the CPU has AVX2.
            unsafe {
                if x.dtype == crate::schema::DType::I8 {
                    pixel_avx2::<true>(x.bytes, zp, offsets, weights, acc, cout)
                } else {
                    pixel_avx2::<false>(x.bytes, zp, offsets, weights, acc, cout)
                }
            };
            let row = &mut acc[..cout];
            stage.apply_row(row);
            o.set_run(b * p.ost[0] + oy * p.ost[1] + ox * p.ost[2], p.ost[3], row);
        }
        return Ok(());
    }
    // Centered weights, tap-major: w[t * cout + oc] = weight(oc, t) - zero point(oc).
    for oc in 0..cout {
        for t in 0..k {
            w[t * cout + oc] = centered(oc, t);
        }
    }
    let izp = st.input_zero_point;
    let signed = x.dtype == crate::schema::DType::I8;
    let acc = &mut acc[..cout];
    for i in 0..p.n * p.oh * p.ow {
        let (b, oy, ox) = p.pixel(i);
        acc.fill(0);
        tap_offsets(c, p, (b, oy, ox), offsets);
        for (t, &offset) in offsets.iter().enumerate() {
            let Some(base) = offset.checked_sub(1) else {
                continue;
            };
            let wrow = &w[t * cout..][..cout];
            if interleaved {
                let xs = &x.bytes[base..base + cout];
                for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(wrow) {
                    let v = if signed { xv as i8 as i32 } else { xv as i32 };
                    *a = a.wrapping_add((v - izp).wrapping_mul(wv as i32));
                }
            } else {
                for (oc, (a, &wv)) in acc.iter_mut().zip(wrow).enumerate() {
                    let xi = base + (oc / p.cout_g) * p.xst[3];
                    *a = a.wrapping_add(x.get(xi).wrapping_sub(izp).wrapping_mul(wv as i32));
                }
            }
        }
        stage.apply_row(acc);
        o.set_run(b * p.ost[0] + oy * p.ost[1] + ox * p.ost[2], p.ost[3], acc);
    }
    Ok(())
}

/// Each tap's input element offset plus one for output pixel `(b, oy, ox)`, or 0 where
/// the tap falls outside the input.
#[inline(always)]
fn tap_offsets(c: &Conv, p: &ConvPlan, (b, oy, ox): (usize, usize, usize), offsets: &mut [usize]) {
    let kw = c.kernel[1];
    for ky in 0..c.kernel[0] {
        let iy = source(c, 0, oy, ky, p.h);
        for kx in 0..kw {
            offsets[ky * kw + kx] = match (iy, source(c, 1, ox, kx, p.w)) {
                (Some(iy), Some(ix)) => b * p.xst[0] + iy * p.xst[1] + ix * p.xst[2] + 1,
                _ => 0,
            };
        }
    }
}

/// Lays out the weights of one tap pair for [`pixel_avx2`]: per block of 16 channels, the
/// pairs `(w(c, 0), w(c, 1))` in `vpunpcklwd` then `vpunpckhwd` order (channels 0-3 and
/// 8-11, then 4-7 and 12-15).
#[cfg(target_arch = "x86_64")]
fn lay_out_pair(pair: &mut [i16], w: impl Fn(usize, usize) -> i16) {
    for (bl, out) in pair.chunks_exact_mut(2 * BLOCK).enumerate() {
        for half in 0..2 {
            for j in 0..4 {
                for i in 0..2 {
                    let c = bl * BLOCK + half * 8 + j;
                    out[half * 8 + 2 * j + i] = w(c, i);
                    out[BLOCK + half * 8 + 2 * j + i] = w(c + 4, i);
                }
            }
        }
    }
}

/// One pixel's accumulators (`acc`, channels rounded up to a block) over the taps at
/// `offsets` (see [`tap_offsets`]), taps in pairs, with weights from [`lay_out_pair`]:
/// blocks of 16 channels, then one of 8, then the last few one at a time from `wt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pixel_avx2<const SIGNED: bool>(
    x: &[u8],
    zero_point: i32,
    offsets: &[usize],
    (w, wt): (&[i16], &Weights<'_>),
    acc: &mut [i32],
    cout: usize,
) {
    use core::arch::x86_64::*;
    let padded = acc.len();
    let zp = _mm256_set1_epi16(zero_point as i16);
    let widen = |v: __m128i| {
        if SIGNED {
            _mm256_cvtepi8_epi16(v)
        } else {
            _mm256_cvtepu8_epi16(v)
        }
    };
    let full = cout / BLOCK;
    for bl in 0..full {
        let (mut lo, mut hi) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut pairs = offsets.chunks_exact(2);
        let tap = |offset: usize| {
            let Some(base) = offset.checked_sub(1) else {
                return _mm256_setzero_si256();
            };
            let v = &x[base + bl * BLOCK..][..BLOCK];
            // SAFETY: sixteen bytes.
            _mm256_sub_epi16(
                widen(unsafe { _mm_loadu_si128(v.as_ptr() as *const _) }),
                zp,
            )
        };
        let mut step = |pr: usize, xa: __m256i, xb: __m256i| {
            let wp = &w[2 * (pr * padded + bl * BLOCK)..][..2 * BLOCK];
            // SAFETY: 32 values.
            let (wlo, whi) = unsafe {
                (
                    _mm256_loadu_si256(wp.as_ptr() as *const __m256i),
                    _mm256_loadu_si256(wp.as_ptr().add(BLOCK) as *const __m256i),
                )
            };
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb), wlo));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb), whi));
        };
        for (pr, pair) in pairs.by_ref().enumerate() {
            step(pr, tap(pair[0]), tap(pair[1]));
        }
        if let [last] = pairs.remainder() {
            step(offsets.len() / 2, tap(*last), _mm256_setzero_si256());
        }
        let out = &mut acc[bl * BLOCK..][..BLOCK];
        // SAFETY: sixteen values.
        unsafe {
            _mm256_storeu_si256(
                out.as_mut_ptr() as *mut __m256i,
                _mm256_permute2x128_si256(lo, hi, 0x20),
            );
            _mm256_storeu_si256(
                out.as_mut_ptr().add(8) as *mut __m256i,
                _mm256_permute2x128_si256(lo, hi, 0x31),
            );
        }
    }
    let mut done = full * BLOCK;
    if cout - done >= 8 {
        // Half a block: the same in 128-bit vectors (the layout's first half).
        let zp = _mm_set1_epi16(zero_point as i16);
        let tap = |offset: usize| {
            let Some(base) = offset.checked_sub(1) else {
                return _mm_setzero_si128();
            };
            let v = &x[base + done..][..8];
            // SAFETY: eight bytes.
            let v = unsafe { _mm_loadl_epi64(v.as_ptr() as *const _) };
            let v = if SIGNED {
                _mm_cvtepi8_epi16(v)
            } else {
                _mm_cvtepu8_epi16(v)
            };
            _mm_sub_epi16(v, zp)
        };
        let (mut lo, mut hi) = (_mm_setzero_si128(), _mm_setzero_si128());
        for (pr, pair) in offsets.chunks(2).enumerate() {
            let xa = tap(pair[0]);
            let xb = pair.get(1).map_or(_mm_setzero_si128(), |&o| tap(o));
            let wp = &w[2 * (pr * padded + done)..][..2 * BLOCK];
            // SAFETY: 8 values each.
            let (wlo, whi) = unsafe {
                (
                    _mm_loadu_si128(wp.as_ptr() as *const __m128i),
                    _mm_loadu_si128(wp.as_ptr().add(BLOCK) as *const __m128i),
                )
            };
            lo = _mm_add_epi32(lo, _mm_madd_epi16(_mm_unpacklo_epi16(xa, xb), wlo));
            hi = _mm_add_epi32(hi, _mm_madd_epi16(_mm_unpackhi_epi16(xa, xb), whi));
        }
        let out = &mut acc[done..][..8];
        // SAFETY: eight values.
        unsafe {
            _mm_storeu_si128(out.as_mut_ptr() as *mut __m128i, lo);
            _mm_storeu_si128(out.as_mut_ptr().add(4) as *mut __m128i, hi);
        }
        done += 8;
    }
    let k = offsets.len();
    for (oc, a) in acc.iter_mut().enumerate().take(cout).skip(done) {
        *a = offsets.iter().enumerate().fold(0i32, |sum, (t, &offset)| {
            let Some(base) = offset.checked_sub(1) else {
                return sum;
            };
            let v = if SIGNED {
                x[base + oc] as i8 as i32
            } else {
                x[base + oc] as i32
            };
            let wv = (wt.weights[oc * k + t] as i8 as i32).wrapping_sub(wt.zero_points[oc]);
            sum.wrapping_add((v - zero_point).wrapping_mul(wv))
        });
    }
}
