//! Quantized data-movement and conversion kernels: reshape, concat (with requantization),
//! pad (with the quantized pad value), resize (TFLite's integer bilinear and nearest) and
//! TFLite's quantize/requantize.

use super::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier, round_f32};
use super::{from_ints, ints, per_tensor, qrange};
use crate::interp::Operand;
use crate::ir::{CoordTransform, NearestRounding, PadMode, ResizeMode, Tensor, TensorType};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

fn same_quant(x: &TensorType, out: &TensorType, what: &str) -> Result<()> {
    if per_tensor(x, "input")? != per_tensor(out, "output")? {
        bail!("quantized {what} needs equal input and output quantization ({x} vs {out})");
    }
    Ok(())
}

/// Reshape: the data is unchanged.
pub fn reshape(x: &Operand<'_>, out: &TensorType) -> Result<Tensor> {
    x.data.reshaped(&out.shape).ok_or_else(|| {
        crate::Error::new(format!(
            "cannot reshape {:?} to {:?}",
            x.data.shape(),
            out.shape
        ))
    })
}

/// Concatenation; inputs whose quantization differs from the output's are requantized
/// like TFLite's `ConcatenationWithScaling`.
pub fn concat(axis: usize, inputs: &[Operand<'_>], out: &TensorType) -> Result<Tensor> {
    let rank = out.shape.len();
    if axis >= rank || inputs.iter().any(|x| x.data.shape().len() != rank) {
        bail!("concat axis {axis} does not fit its operands of rank {rank}");
    }
    let (so, zo) = per_tensor(out, "output")?;
    let (qmin, qmax) = qrange(out.dtype)?;
    let outer: usize = out.shape[..axis].iter().product();
    let mut parts = Vec::with_capacity(inputs.len());
    for x in inputs {
        let (si, zi) = per_tensor(x.ty, "input")?;
        let v = ints(x.data)?;
        let v = if (si, zi) == (so, zo) {
            v
        } else {
            let scale = si * (1.0 / so);
            let bias = -(zi as f32) * scale;
            v.iter()
                .map(|&q| ((q as f32 * scale + bias).round() as i32 + zo).clamp(qmin, qmax))
                .collect()
        };
        let chunk: usize = x.data.shape()[axis..].iter().product();
        parts.push((v, chunk));
    }
    let mut res = Vec::with_capacity(out.num_elements());
    for o in 0..outer {
        for (v, chunk) in &parts {
            res.extend_from_slice(&v[o * chunk..(o + 1) * chunk]);
        }
    }
    from_ints(out.dtype, &out.shape, res)
}

/// Padding; constant padding writes the pad value quantized with the output parameters.
pub fn pad(
    pads: &[(usize, usize)],
    mode: PadMode,
    value: f32,
    x: &Operand<'_>,
    out: &TensorType,
) -> Result<Tensor> {
    same_quant(x.ty, out, "pad")?;
    let (so, zo) = per_tensor(out, "output")?;
    let (qmin, qmax) = qrange(out.dtype)?;
    let fill = (zo + round_f32(value / so) as i32).clamp(qmin, qmax);
    let s = x.data.shape();
    let r = s.len();
    if pads.len() != r || out.shape.len() != r {
        bail!("pad: {} pad pairs for a rank-{r} input", pads.len());
    }
    if x.data.dtype() != out.dtype {
        bail!("pad: {} input, {} output", x.data.dtype(), out.dtype);
    }
    // Per dimension, the source coordinate of each output coordinate (None: fill).
    let maps: Vec<Vec<Option<usize>>> = (0..r)
        .map(|d| {
            let n = s[d] as isize;
            (0..out.shape[d])
                .map(|o| {
                    let p = o as isize - pads[d].0 as isize;
                    if (0..n).contains(&p) {
                        return Some(p as usize);
                    }
                    match mode {
                        PadMode::Constant => None,
                        PadMode::Edge => Some(p.clamp(0, n - 1) as usize),
                        PadMode::Reflect => {
                            let period = 2 * (n - 1).max(1);
                            let m = p.rem_euclid(period);
                            Some(if m < n { m } else { period - m } as usize)
                        }
                    }
                })
                .collect()
        })
        .collect();
    let shape = IxDyn(&out.shape);
    let mk = |e: ndarray::ShapeError| crate::Error::new(format!("pad output: {e}"));
    Ok(match x.data {
        Tensor::I8(a) => Tensor::I8(
            ArrayD::from_shape_vec(shape, gather_rows(a, &maps, fill as i8)).map_err(mk)?,
        ),
        Tensor::U8(a) => Tensor::U8(
            ArrayD::from_shape_vec(shape, gather_rows(a, &maps, fill as u8)).map_err(mk)?,
        ),
        Tensor::I16(a) => Tensor::I16(
            ArrayD::from_shape_vec(shape, gather_rows(a, &maps, fill as i16)).map_err(mk)?,
        ),
        Tensor::I32(a) => {
            Tensor::I32(ArrayD::from_shape_vec(shape, gather_rows(a, &maps, fill)).map_err(mk)?)
        }
        other => bail!("quantized pad of {} data", other.dtype()),
    })
}

/// The padded array: output element `i` reads the input at the per-axis source
/// coordinates `maps[d][i_d]`, or is `fill` where any axis has none. Rows of the last axis
/// that map one to one are copied whole.
fn gather_rows<T: Copy>(a: &ArrayD<T>, maps: &[Vec<Option<usize>>], fill: T) -> Vec<T> {
    let src = a.as_standard_layout();
    let src = src.as_slice().expect("standard layout");
    let r = maps.len();
    if r == 0 {
        return src.to_vec();
    }
    let s = a.shape();
    let mut in_strides = vec![1usize; r];
    for i in (0..r - 1).rev() {
        in_strides[i] = in_strides[i + 1] * s[i + 1];
    }
    let (inner, outer) = (&maps[r - 1], &maps[..r - 1]);
    let identity = inner.len() == s[r - 1] && inner.iter().enumerate().all(|(i, q)| *q == Some(i));
    let out_outer: Vec<usize> = outer.iter().map(Vec::len).collect();
    let rows: usize = out_outer.iter().product();
    let mut res = Vec::with_capacity(rows * inner.len());
    let mut idx = vec![0usize; r - 1];
    for _ in 0..rows {
        let base = outer
            .iter()
            .zip(&idx)
            .zip(&in_strides)
            .try_fold(0usize, |f, ((m, &i), st)| m[i].map(|q| f + q * st));
        match base {
            None => res.extend(std::iter::repeat_n(fill, inner.len())),
            Some(b) if identity => res.extend_from_slice(&src[b..b + inner.len()]),
            Some(b) => res.extend(inner.iter().map(|q| q.map_or(fill, |q| src[b + q]))),
        }
        for d in (0..r - 1).rev() {
            idx[d] += 1;
            if idx[d] < out_outer[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    res
}

/// TFLite's resize flags `(align_corners, half_pixel_centers)` for an IR resize.
pub fn tflite_resize_flags(
    mode: ResizeMode,
    coord: CoordTransform,
    nearest: NearestRounding,
) -> Result<(bool, bool)> {
    Ok(match (mode, coord, nearest) {
        (ResizeMode::Linear, CoordTransform::Asymmetric, _) => (false, false),
        (ResizeMode::Linear, CoordTransform::AlignCorners, _) => (true, false),
        (ResizeMode::Linear, CoordTransform::HalfPixel, _) => (false, true),
        (ResizeMode::Nearest, CoordTransform::Asymmetric, NearestRounding::Floor) => (false, false),
        (ResizeMode::Nearest, CoordTransform::AlignCorners, NearestRounding::RoundPreferCeil) => (true, false),
        (ResizeMode::Nearest, CoordTransform::TfHalfPixelForNn, NearestRounding::Floor) => (false, true),
        (ResizeMode::Nearest, CoordTransform::TfHalfPixelForNn, NearestRounding::RoundPreferCeil) => (true, true),
        _ => bail!("quantized resize supports TFLite's coordinate modes only, got {mode:?}/{coord:?}/{nearest:?}"),
    })
}

/// Resize of NHWC int8/uint8 data with TFLite's integer kernels
/// (`ResizeBilinearInteger`, `ResizeNearestNeighbor`).
pub fn resize(
    mode: ResizeMode,
    coord: CoordTransform,
    nearest: NearestRounding,
    x: &Operand<'_>,
    out: &TensorType,
) -> Result<Tensor> {
    same_quant(x.ty, out, "resize")?;
    let (align, half) = tflite_resize_flags(mode, coord, nearest)?;
    let bilinear = match mode {
        ResizeMode::Linear => true,
        ResizeMode::Nearest => false,
        ResizeMode::Cubic => bail!("the interpreter has no quantized cubic resize"),
    };
    let s = x.data.shape();
    if s.len() != 4 || out.shape.len() != 4 || out.shape[0] != s[0] || out.shape[3] != s[3] {
        bail!(
            "quantized resize works on NHWC spatial axes only: {s:?} -> {:?}",
            out.shape
        );
    }
    let res = resize_nhwc(
        TfliteResize {
            bilinear,
            align_corners: align,
            half_pixel_centers: half,
        },
        &ints(x.data)?,
        [s[0], s[1], s[2], s[3]],
        [out.shape[1], out.shape[2]],
    );
    from_ints(out.dtype, &out.shape, res)
}

/// The variant of TFLite's integer resize kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TfliteResize {
    /// `ResizeBilinearInteger` (else `ResizeNearestNeighbor`).
    pub bilinear: bool,
    pub align_corners: bool,
    pub half_pixel_centers: bool,
}

/// TFLite's integer resize of NHWC codes `x` (dims `[n, h, w, c]`) to `[oh, ow]`.
pub fn resize_nhwc(
    k: TfliteResize,
    x: &[i32],
    [n, ih, iw, c]: [usize; 4],
    [oh, ow]: [usize; 2],
) -> Vec<i32> {
    let (align, half) = (k.align_corners, k.half_pixel_centers);
    let (ih, iw, oh, ow) = (ih as i32, iw as i32, oh as i32, ow as i32);
    let at = |b: usize, y: i32, xx: i32, ch: usize| {
        x[((b * ih as usize + y as usize) * iw as usize + xx as usize) * c + ch]
    };
    let mut res = Vec::with_capacity(n * (oh * ow) as usize * c);
    if k.bilinear {
        let scale10 = |i: i32, o: i32| {
            if align && o > 1 {
                ((1 << 10) * (i - 1) + (o - 1) / 2) / (o - 1)
            } else {
                ((1 << 10) * i + o / 2) / o
            }
        };
        let (hs, wsc) = (scale10(ih, oh), scale10(iw, ow));
        let interp = |v: i32, sc: i32, size: i32| {
            let scaled = if half {
                v * sc + sc / 2 - (1 << 9)
            } else {
                v * sc
            };
            (
                scaled,
                (scaled / (1 << 10)).max(0),
                ((scaled + (1 << 10) - 1) / (1 << 10)).min(size - 1),
            )
        };
        for b in 0..n {
            for y in 0..oh {
                let (iy, y0, y1) = interp(y, hs, ih);
                for xx in 0..ow {
                    let (ix, x0, x1) = interp(xx, wsc, iw);
                    let (dy, dx) = ((iy - (1 << 10) * y0) as i64, (ix - (1 << 10) * x0) as i64);
                    for ch in 0..c {
                        let o20 = at(b, y0, x0, ch) as i64 * ((1 << 10) - dy) * ((1 << 10) - dx)
                            + at(b, y1, x0, ch) as i64 * dy * ((1 << 10) - dx)
                            + at(b, y0, x1, ch) as i64 * ((1 << 10) - dy) * dx
                            + at(b, y1, x1, ch) as i64 * dy * dx;
                        let round = if o20 > 0 { 1i64 << 19 } else { -(1i64 << 19) };
                        res.push(((o20 + round) / (1 << 20)) as i32);
                    }
                }
            }
        }
    } else {
        let scale = |i: i32, o: i32| {
            if align && o > 1 {
                (i - 1) as f32 / (o - 1) as f32
            } else {
                i as f32 / o as f32
            }
        };
        let (hs, wsc) = (scale(ih, oh), scale(iw, ow));
        let offset = if half { 0.5f32 } else { 0.0 };
        let nn = |v: i32, sc: f32, size: i32| {
            let p = (v as f32 + offset) * sc;
            let q = if align {
                round_f32(p) as i32
            } else {
                p.floor() as i32
            };
            let q = q.min(size - 1);
            if half {
                q.max(0)
            } else {
                q
            }
        };
        for b in 0..n {
            for y in 0..oh {
                let sy = nn(y, hs, ih);
                for xx in 0..ow {
                    let sx = nn(xx, wsc, iw);
                    for ch in 0..c {
                        res.push(at(b, sy, sx, ch));
                    }
                }
            }
        }
    }
    res
}

/// Quantize f32 to an integer type (`AffineQuantize`), or requantize between integer
/// types (`Requantize`).
pub fn quantize(x: &Operand<'_>, out: &TensorType) -> Result<Tensor> {
    let (so, zo) = per_tensor(out, "output")?;
    let (qmin, qmax) = qrange(out.dtype)?;
    let res: Vec<i32> = match x.data {
        Tensor::F32(a) => a
            .iter()
            .map(|&v| {
                (round_f32(v / so) as i32)
                    .saturating_add(zo)
                    .clamp(qmin, qmax)
            })
            .collect(),
        t => {
            let (si, zi) = per_tensor(x.ty, "input")?;
            let (m, s) = quantize_multiplier(si as f64 / so as f64);
            ints(t)?
                .iter()
                .map(|&v| (multiply_by_quantized_multiplier(v - zi, m, s) + zo).clamp(qmin, qmax))
                .collect()
        }
    };
    from_ints(out.dtype, &out.shape, res)
}
