//! Quantized pooling (`reference_integer_ops::AveragePool`/`MaxPool`) and reductions
//! (`reference_ops::QuantizedMeanOrSum`).

use super::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};
use super::{activation_range, from_ints, ints, per_tensor, qrange};
use crate::interp::Operand;
use crate::ir::{
    Activation, Layout, PoolAttrs, PoolKind, PoolWindow2d, ReduceKind, Tensor, TensorType,
};
use crate::{bail, Result};

/// 2-D average or max pooling over the valid part of each window.
pub fn pool(
    attrs: &PoolAttrs,
    activation: Option<Activation>,
    x: &Operand<'_>,
    out: &TensorType,
) -> Result<Tensor> {
    let (Some(window), false) = (attrs.window_2d(), attrs.ceil_mode) else {
        bail!("quantized pooling supports 2-D windows without dilation or ceil mode (TFLite's)");
    };
    if attrs.averages_padding() {
        bail!("quantized average pooling counts valid elements only (count_include_pad = false)");
    }
    let PoolWindow2d {
        kernel,
        strides,
        pads,
    } = window;
    let (kind, layout) = (attrs.kind, attrs.layout);
    let (si, zi) = per_tensor(x.ty, "input")?;
    let (so, zo) = per_tensor(out, "output")?;
    if (si, zi) != (so, zo) {
        bail!("quantized pooling needs equal input and output quantization");
    }
    let (lo, hi) = activation_range(activation, out)?;
    let s = x.data.shape();
    let o = &out.shape;
    let (n, h, w, c, oh, ow) = match layout {
        Layout::Nhwc => (s[0], s[1], s[2], s[3], o[1], o[2]),
        Layout::Nchw => (s[0], s[2], s[3], s[1], o[2], o[3]),
    };
    let index = |b: usize, y: usize, xx: usize, ch: usize, hh: usize, ww: usize| match layout {
        Layout::Nhwc => ((b * hh + y) * ww + xx) * c + ch,
        Layout::Nchw => ((b * c + ch) * hh + y) * ww + xx,
    };
    let xv = ints(x.data)?;
    let mut res = vec![0i32; out.num_elements()];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let y0 = (oy * strides[0]) as isize - pads[0] as isize;
                    let x0 = (ox * strides[1]) as isize - pads[1] as isize;
                    let ys = y0.max(0) as usize
                        ..((y0 + kernel[0] as isize).min(h as isize)).max(0) as usize;
                    let xs = x0.max(0) as usize
                        ..((x0 + kernel[1] as isize).min(w as isize)).max(0) as usize;
                    let vals = ys
                        .flat_map(|y| xs.clone().map(move |xx| (y, xx)))
                        .map(|(y, xx)| xv[index(b, y, xx, ch, h, w)]);
                    let v = match kind {
                        PoolKind::Max => vals.max().unwrap_or(lo),
                        PoolKind::Avg => {
                            let (sum, count) = vals.fold((0i32, 0i32), |(s, k), v| (s + v, k + 1));
                            if count == 0 {
                                0
                            } else if sum > 0 {
                                (sum + count / 2) / count
                            } else {
                                (sum - count / 2) / count
                            }
                        }
                    };
                    res[index(b, oy, ox, ch, oh, ow)] = v.clamp(lo, hi);
                }
            }
        }
    }
    from_ints(out.dtype, &out.shape, res)
}

/// Quantized reduction over `axes`: mean and sum requantize like TFLite's
/// `QuantizedMeanOrSum`; max and min need equal input and output quantization.
pub fn reduce(
    kind: ReduceKind,
    axes: &[usize],
    x: &Operand<'_>,
    out: &TensorType,
) -> Result<Tensor> {
    let (si, zi) = per_tensor(x.ty, "input")?;
    let (so, zo) = per_tensor(out, "output")?;
    let (qmin, qmax) = qrange(out.dtype)?;
    let s = x.data.shape();
    let xv = ints(x.data)?;
    // Output slot of every input element (reduced axes collapse).
    let mut out_strides = vec![0usize; s.len()];
    let mut acc = 1;
    for i in (0..s.len()).rev() {
        if !axes.contains(&i) {
            out_strides[i] = acc;
            acc *= s[i];
        }
    }
    let n_out = acc;
    if n_out != out.num_elements() {
        bail!(
            "reduce output has {} elements, expected {n_out}",
            out.num_elements()
        );
    }
    let count: i64 = axes.iter().map(|&a| s[a] as i64).product();
    let mut slot = vec![0usize; xv.len()];
    let mut idx = vec![0usize; s.len()];
    for item in slot.iter_mut() {
        *item = idx.iter().zip(&out_strides).map(|(i, st)| i * st).sum();
        for d in (0..s.len()).rev() {
            idx[d] += 1;
            if idx[d] < s[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    let res: Vec<i32> = match kind {
        ReduceKind::Mean | ReduceKind::Sum => {
            let mut sums = vec![0i32; n_out];
            for (v, &o) in xv.iter().zip(&slot) {
                sums[o] = sums[o].wrapping_add(*v);
            }
            let (mut m, mut shift) = quantize_multiplier(si as f64 / so as f64);
            if kind == ReduceKind::Mean && count > 0 {
                // Fold 1/count into the multiplier, as TFLite does.
                let mut sh = 63 - (count as u64).leading_zeros() as i32;
                sh = sh.min(32).min(31 + shift);
                m = (((m as i64) << sh) / count) as i32;
                shift -= sh;
            }
            sums.iter()
                .map(|&sum| {
                    let shifted = (sum as i64 - zi as i64 * count) as i32;
                    (multiply_by_quantized_multiplier(shifted, m, shift) + zo).clamp(qmin, qmax)
                })
                .collect()
        }
        ReduceKind::Max | ReduceKind::Min => {
            if (si, zi) != (so, zo) {
                bail!("quantized reduce {kind:?} needs equal input and output quantization");
            }
            let init = if kind == ReduceKind::Max {
                i32::MIN
            } else {
                i32::MAX
            };
            let mut r = vec![init; n_out];
            for (v, &o) in xv.iter().zip(&slot) {
                r[o] = if kind == ReduceKind::Max {
                    r[o].max(*v)
                } else {
                    r[o].min(*v)
                };
            }
            r
        }
        ReduceKind::Prod => bail!("quantized reduce Prod has no int8 kernel"),
    };
    from_ints(out.dtype, &out.shape, res)
}
