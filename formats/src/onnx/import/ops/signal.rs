//! The signal operators. HannWindow, HammingWindow, BlackmanWindow and MelWeightMatrix
//! have constant inputs, so they import as constants. DFT and STFT are matrix products
//! by constant DFT matrices (complex values as interleaved real and imaginary parts),
//! computed in f64 like the reference's FFT and cast back once; STFT gathers its frames
//! with constant indices first.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::steps::Steps;
use super::{const_input, dtype_attr};
use nnopt_compiler::ir::{BinaryKind, DType, Op, ValueRef};
use nnopt_compiler::{limits, Result};
use std::f64::consts::PI;

/// The value of constant scalar input `i`.
fn const_scalar(imp: &Importer, cx: &NodeCtx, i: usize, what: &str) -> Result<f64> {
    match const_input(imp, cx, i, what)?.to_f64_vec()[..] {
        [v] => Ok(v),
        _ => Err(cx.err(format!("input {i} ({what}) must be a scalar"))),
    }
}

/// Constant scalar input `i` as a length of at least `min`, within the allocation limit.
fn const_len(imp: &Importer, cx: &NodeCtx, i: usize, what: &str, min: usize) -> Result<usize> {
    let v = const_scalar(imp, cx, i, what)?;
    if !(v >= min as f64 && v <= (limits::MAX_BUFFER_BYTES / 8) as f64 && v.fract() == 0.0) {
        return Err(cx.err(format!("{what} must be an integer >= {min}, got {v}")));
    }
    Ok(v as usize)
}

/// A constant of `values` in the dtype of the `output_datatype` attribute (default f32).
fn typed_constant(
    imp: &mut Importer,
    cx: &NodeCtx,
    shape: &[usize],
    values: &[f64],
) -> Result<ValueRef> {
    let dtype = dtype_attr(cx, cx.int("output_datatype", 1)?)?;
    let mut s = Steps::new(imp, cx.out(0).to_string());
    s.constant(dtype, shape, values)
        .map_err(|e| cx.err(e.message))
}

/// HannWindow, HammingWindow and BlackmanWindow of a constant size; `periodic` (the
/// default) divides by the size, else by the size less one.
pub(super) fn window(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let size = const_len(imp, cx, 0, "size", 0)?;
    let periodic = cx.int("periodic", 1)? != 0;
    let n = (if periodic {
        size
    } else {
        size.saturating_sub(1)
    }) as f64;
    let op = cx.op_type();
    let values: Vec<f64> = (0..size)
        .map(|i| {
            let t = 2.0 * PI * i as f64 / n;
            match op {
                "HannWindow" => (t / 2.0).sin().powi(2),
                "HammingWindow" => 25.0 / 46.0 - (1.0 - 25.0 / 46.0) * t.cos(),
                _ => 0.42 - 0.5 * t.cos() + 0.08 * (2.0 * t).cos(),
            }
        })
        .collect();
    typed_constant(imp, cx, &[size], &values)
}

/// MelWeightMatrix `[dft_length / 2 + 1, num_mel_bins]`: triangular filters between
/// mel-spaced bins, as the ONNX reference computes them.
pub(super) fn mel_weight_matrix(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let mels = const_len(imp, cx, 0, "num_mel_bins", 1)?;
    let dft_length = const_len(imp, cx, 1, "dft_length", 1)?;
    let rate = const_len(imp, cx, 2, "sample_rate", 1)? as f64;
    let lower = const_scalar(imp, cx, 3, "lower_edge_hertz")? as f32;
    let upper = const_scalar(imp, cx, 4, "upper_edge_hertz")? as f32;
    let spectrum = dft_length / 2 + 1;
    limits::shape_elements(&[spectrum, mels], 8, "the mel weight matrix")
        .map_err(|e| cx.err(e.message))?;
    // The edges' mels start in f32 like the reference's; the rest is f64.
    let mel = |hz: f32| (2595.0 * (hz / 700.0).ln_1p()) as f64 / 10f64.ln();
    let (low, high) = (mel(lower), mel(upper));
    let step = (high - low) / (mels + 2) as f64;
    let bins: Vec<usize> = (0..mels + 2)
        .map(|i| {
            let hz = 700.0 * ((i as f64 * step + low) / 2595.0 * 10f64.ln()).exp_m1();
            ((dft_length as f64 + 1.0) * hz / rate).floor().max(0.0) as usize
        })
        .collect();
    if bins[mels + 1] >= spectrum {
        return Err(cx.err("upper_edge_hertz lies beyond the spectrum"));
    }
    let mut w = vec![0f64; spectrum * mels];
    for i in 0..mels {
        let (left, centre, right) = (bins[i], bins[i + 1], bins[i + 2]);
        if centre == left {
            w[centre * mels + i] = 1.0;
        } else {
            for j in left..=centre {
                w[j * mels + i] = (j - left) as f64 / (centre - left) as f64;
            }
        }
        for j in centre..right {
            w[j * mels + i] = (right - j) as f64 / (right - centre) as f64;
        }
    }
    typed_constant(imp, cx, &[spectrum, mels], &w)
}

/// Which transform a DFT computes.
#[derive(Clone, Copy, PartialEq)]
enum Transform {
    /// `X[k] = sum x[j] e^(-2πi jk/L)`, all `L` bins or the first `L/2 + 1`.
    Forward { onesided: bool },
    /// `x[j] = 1/L sum X[k] e^(2πi jk/L)`.
    Inverse,
    /// The real inverse of the first `L/2 + 1` bins of a Hermitian spectrum.
    InverseReal,
}

impl Transform {
    /// The number of outputs of a transform of length `len`, and their parts.
    fn outputs(self, len: usize) -> (usize, usize) {
        match self {
            Transform::Forward { onesided: true } => (len / 2 + 1, 2),
            Transform::Forward { onesided: false } | Transform::Inverse => (len, 2),
            Transform::InverseReal => (len, 1),
        }
    }
}

/// The DFT matrix `[n * c, k * co]` from `n` inputs of `c` parts (1: real, 2: complex)
/// to the transform's `k` outputs of `co` parts (see [`Transform::outputs`]) for length
/// `len`; inputs past `len` are cut.
fn dft_matrix(n: usize, c: usize, len: usize, t: Transform) -> Vec<f64> {
    let (k, co) = t.outputs(len);
    let mut w = vec![0f64; n * c * k * co];
    let l = len as f64;
    for j in 0..n {
        for q in 0..k {
            // (re, im) of the output per unit (re, im) of the input.
            let angle = |a: usize, b: usize| 2.0 * PI * ((a * b) % len) as f64 / l;
            let (from_re, from_im) = match t {
                Transform::Forward { .. } if j < len => {
                    let (s, cs) = angle(j, q).sin_cos();
                    ((cs, -s), (s, cs))
                }
                Transform::Inverse if j < len => {
                    let (s, cs) = angle(j, q).sin_cos();
                    ((cs / l, s / l), (-s / l, cs / l))
                }
                // Input bin j at output sample q: Re(X e^(iθ)), doubled for the bins whose
                // conjugates the one-sided spectrum leaves out; DC and Nyquist imaginary
                // parts are ignored.
                Transform::InverseReal if 2 * j <= len => {
                    let (s, cs) = angle(j, q).sin_cos();
                    if j == 0 || 2 * j == len {
                        ((cs / l, 0.0), (0.0, 0.0))
                    } else {
                        ((2.0 * cs / l, 0.0), (-2.0 * s / l, 0.0))
                    }
                }
                _ => ((0.0, 0.0), (0.0, 0.0)),
            };
            let parts = [from_re, from_im];
            for (p, &(re, im)) in parts.iter().enumerate().take(c) {
                let row = (j * c + p) * k * co + q * co;
                w[row] = re;
                if co == 2 {
                    w[row + 1] = im;
                }
            }
        }
    }
    w
}

/// `t` of `x` (whose last axis holds 1 or 2 parts) along `axis`, of length `len`.
fn transform(
    s: &mut Steps,
    cx: &NodeCtx,
    x: ValueRef,
    axis: usize,
    len: usize,
    t: Transform,
) -> Result<ValueRef> {
    let shape = s.imp.shape(x);
    let dtype = s.imp.ty(x).dtype;
    let r = shape.len();
    let c = shape[r - 1];
    if !dtype.is_float() || !(1..=2).contains(&c) || axis + 1 >= r || len == 0 {
        return Err(cx.err(format!(
            "needs float data whose last axis holds 1 or 2 parts, a signal axis before it \
             and a positive length; got {dtype} {shape:?}, axis {axis}, length {len}"
        )));
    }
    let n = shape[axis];
    let (k, co) = t.outputs(len);
    limits::shape_elements(&[n * c, k * co], 8, "the DFT matrix").map_err(|e| cx.err(e.message))?;
    let w = dft_matrix(n, c, len, t);
    // The signal axis moves next to the parts, and the rest flattens into rows.
    let mut perm: Vec<usize> = (0..r - 1).filter(|&a| a != axis).collect();
    perm.extend([axis, r - 1]);
    let outer: Vec<usize> = perm[..r - 2].iter().map(|&a| shape[a]).collect();
    let rows = outer.iter().product();
    let moved = if perm.iter().enumerate().all(|(i, &p)| i == p) {
        x
    } else {
        s.emit(Op::Transpose { perm: perm.clone() }, &[x])?
    };
    let flat = s.reshape(moved, vec![rows, n * c])?;
    let flat = s.cast(flat, DType::F64)?;
    let m = s.constant(DType::F64, &[n * c, k * co], &w)?;
    let y = s.emit(Op::MatMul, &[flat, m])?;
    let y = s.cast(y, dtype)?;
    let mut moved_shape = outer;
    moved_shape.extend([k, co]);
    let y = s.reshape(y, moved_shape)?;
    let mut back = vec![0; r];
    for (i, &p) in perm.iter().enumerate() {
        back[p] = i;
    }
    if back.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(y);
    }
    s.emit(Op::Transpose { perm: back }, &[y])
}

/// DFT: the axis is an attribute (default 1) to opset 19, then an input (default -2);
/// `dft_length` pads or cuts the signal.
pub(super) fn dft(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let r = imp.shape(x).len();
    let axis = if imp.opset >= 20 {
        match cx.opt_input(2) {
            Some(_) => const_scalar(imp, cx, 2, "axis")? as i64,
            None => -2,
        }
    } else {
        cx.int("axis", 1)?
    };
    let axis = cx.axis(axis, r)?;
    let inverse = cx.int("inverse", 0)? != 0;
    let onesided = cx.int("onesided", 0)? != 0;
    let n = imp.shape(x).get(axis).copied().unwrap_or(0);
    let len = match cx.opt_input(1) {
        Some(_) => const_len(imp, cx, 1, "dft_length", 1)?,
        None if inverse && onesided => 2 * n.saturating_sub(1),
        None => n,
    };
    let t = match (inverse, onesided) {
        (false, onesided) => Transform::Forward { onesided },
        (true, false) => Transform::Inverse,
        (true, true) => Transform::InverseReal,
    };
    let mut s = Steps::new(imp, format!("{}_dft", cx.out(0)));
    transform(&mut s, cx, x, axis, len, t)
}

/// STFT of `signal` `[batch, length, parts]`: frames of `frame_length` every `frame_step`,
/// weighted by `window`, then a forward DFT of each (one-sided by default).
pub(super) fn stft(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let shape = imp.shape(x);
    let step = const_len(imp, cx, 1, "frame_step", 1)?;
    let window = cx.opt_input(2);
    let frame = match (cx.opt_input(3), window) {
        (Some(_), _) => const_len(imp, cx, 3, "frame_length", 1)?,
        (None, Some(w)) => imp.shape(w).first().copied().unwrap_or(0),
        (None, None) => shape.get(1).copied().unwrap_or(0),
    };
    let [_, length, _] = shape[..] else {
        return Err(cx.err(format!(
            "signal must be [batch, length, parts], got {shape:?}"
        )));
    };
    if frame == 0 || frame > length {
        return Err(cx.err(format!("frames of {frame} in a signal of {length}")));
    }
    if let Some(w) = window {
        if imp.shape(w) != [frame] {
            return Err(cx.err(format!("window must be [{frame}]")));
        }
    }
    let frames = 1 + (length - frame) / step;
    let onesided = cx.int("onesided", 1)? != 0;
    let mut s = Steps::new(imp, format!("{}_stft", cx.out(0)));
    let idx: Vec<f64> = (0..frames)
        .flat_map(|f| (0..frame).map(move |j| (f * step + j) as f64))
        .collect();
    let idx = s.constant(DType::I64, &[frames, frame], &idx)?;
    let mut y = s.emit(Op::Gather { axis: 1 }, &[x, idx])?;
    if let Some(w) = window {
        let dtype = s.imp.ty(x).dtype;
        let w = s.reshape(w, vec![frame, 1])?;
        let w = s.cast(w, dtype)?;
        y = s.binary(BinaryKind::Mul, y, w)?;
    }
    transform(&mut s, cx, y, 2, frame, Transform::Forward { onesided })
}
