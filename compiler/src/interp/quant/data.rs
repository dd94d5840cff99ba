//! Quantized data-movement and conversion kernels: reshape, concat (with requantization),
//! pad (with the quantized pad value), resize (TFLite's integer bilinear and nearest) and
//! TFLite's quantize/requantize.

use super::fixedpoint::{quantize_multiplier, round_f32};
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
                        PadMode::Wrap => Some(p.rem_euclid(n) as usize),
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

pub use nnopt_rt::kernels::requantize::requantize;
pub use nnopt_rt::kernels::resize::TfliteResize;

/// TFLite's integer resize of NHWC codes `x` (dims `[n, h, w, c]`) to `[oh, ow]`: the
/// firmware runtime's kernel, shared.
pub fn resize_nhwc(k: TfliteResize, x: &[i32], dims: [usize; 4], out_hw: [usize; 2]) -> Vec<i32> {
    let mut res = vec![0i32; dims[0] * out_hw[0] * out_hw[1] * dims[3]];
    nnopt_rt::kernels::resize::resize_nhwc(k, |i| x[i], |i, v| res[i] = v, dims, out_hw);
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
            let multiplier = requantize_multiplier(si, so);
            ints(t)?
                .iter()
                .map(|&v| requantize(v, (zi, zo), multiplier, (qmin, qmax)))
                .collect()
        }
    };
    from_ints(out.dtype, &out.shape, res)
}

/// The multiplier and shift of TFLite's `Requantize` from input scale `si` to output
/// scale `so`.
pub fn requantize_multiplier(si: f32, so: f32) -> (i32, i32) {
    quantize_multiplier(si as f64 / so as f64)
}
