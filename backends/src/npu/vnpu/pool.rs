//! Max and average pooling over the valid taps of each 2-D window, and mean/sum
//! reductions over arbitrary axes.

use crate::npu::program::{Pool, PoolKind, Reduce};
use nnopt_compiler::interp::fixedpoint::multiply_by_quantized_multiplier;
use nnopt_compiler::ir::Layout;
use nnopt_compiler::ir::ReduceKind;
use nnopt_compiler::{Error, Result};

/// Calls `f(window)` with the valid taps of every pooling window of `c` over `x` (shape
/// `xs`), in row-major order, and stores the results in an output of shape `os`.
fn pool_windows<T: Copy + Default>(
    c: &Pool,
    x: &[T],
    xs: &[usize],
    os: &[usize],
    mut f: impl FnMut(&[T]) -> T,
) -> Result<Vec<T>> {
    let (n, h, w, ch, oh, ow) = match (c.layout, xs, os) {
        (Layout::Nhwc, [n, h, w, ch], [_, oh, ow, _]) => (*n, *h, *w, *ch, *oh, *ow),
        (Layout::Nchw, [n, ch, h, w], [_, _, oh, ow]) => (*n, *h, *w, *ch, *oh, *ow),
        _ => return Err(Error::at_node(&c.name, "pooling needs 4-D tensors")),
    };
    let index = |b: usize, y: usize, xx: usize, k: usize, hh: usize, ww: usize| match c.layout {
        Layout::Nhwc => ((b * hh + y) * ww + xx) * ch + k,
        Layout::Nchw => ((b * ch + k) * hh + y) * ww + xx,
    };
    let mut out = vec![T::default(); n * oh * ow * ch];
    let mut window = Vec::with_capacity(c.kernel[0] * c.kernel[1]);
    for b in 0..n {
        for oy in 0..oh {
            let y0 = (oy * c.strides[0]) as isize - c.pads[0] as isize;
            let ys = y0.max(0) as usize..(y0 + c.kernel[0] as isize).clamp(0, h as isize) as usize;
            for ox in 0..ow {
                let x0 = (ox * c.strides[1]) as isize - c.pads[1] as isize;
                let xr =
                    x0.max(0) as usize..(x0 + c.kernel[1] as isize).clamp(0, w as isize) as usize;
                for k in 0..ch {
                    window.clear();
                    for y in ys.clone() {
                        window.extend(xr.clone().map(|xx| x[index(b, y, xx, k, h, w)]));
                    }
                    out[index(b, oy, ox, k, oh, ow)] = f(&window);
                }
            }
        }
    }
    Ok(out)
}

/// Runs a pooling command on `x` (shape `xs`) into an output of shape `os`.
pub fn pool(c: &Pool, x: &[i32], xs: &[usize], os: &[usize]) -> Result<Vec<i32>> {
    pool_windows(c, x, xs, os, |taps| {
        let v = match c.kind {
            PoolKind::Max => taps.iter().copied().max().unwrap_or(c.act_min),
            PoolKind::Avg => {
                let (sum, count) = taps
                    .iter()
                    .fold((0i32, 0i32), |(s, m), &v| (s.wrapping_add(v), m + 1));
                if count == 0 {
                    0
                } else if sum > 0 {
                    sum.wrapping_add(count / 2) / count
                } else {
                    sum.wrapping_sub(count / 2) / count
                }
            }
        };
        v.clamp(c.act_min, c.act_max)
    })
}

/// Runs a pooling command on f32 data with the interpreter's float arithmetic: the
/// window's taps in row-major order, max from -inf (NaN wins) or the sum divided by the
/// number of taps inside the input, then the fused activation.
pub fn pool_f32(c: &Pool, x: &[f32], xs: &[usize], os: &[usize]) -> Result<Vec<f32>> {
    pool_windows(c, x, xs, os, |taps| {
        let v = match c.kind {
            PoolKind::Max => taps.iter().fold(f32::NEG_INFINITY, |a, &v| {
                if a.is_nan() || v.is_nan() {
                    f32::NAN
                } else {
                    a.max(v)
                }
            }),
            PoolKind::Avg => {
                let sum = taps.iter().fold(0f32, |s, &v| s + v);
                if taps.is_empty() {
                    sum
                } else {
                    sum / taps.len() as f32
                }
            }
        };
        c.activation.map_or(v, |a| a.apply(v))
    })
}

/// Runs a mean/sum reduction of `x` (shape `xs`) into `out_len` outputs.
pub fn reduce(c: &Reduce, x: &[i32], xs: &[usize], out_len: usize) -> Result<Vec<i32>> {
    if c.axes.iter().any(|&a| a >= xs.len()) {
        return Err(Error::at_node(&c.name, "reduction axis out of range"));
    }
    // Output slot stride of every input axis (reduced axes contribute nothing).
    let mut out_strides = vec![0usize; xs.len()];
    let mut acc = 1;
    for i in (0..xs.len()).rev() {
        if !c.axes.contains(&i) {
            out_strides[i] = acc;
            acc *= xs[i];
        }
    }
    if acc != out_len {
        return Err(Error::at_node(
            &c.name,
            "output size does not match the reduction",
        ));
    }
    let count: i64 = c.axes.iter().map(|&a| xs[a] as i64).product();
    let mut sums = vec![0i32; out_len];
    let mut idx = vec![0usize; xs.len()];
    let mut slot = 0usize;
    for &v in x {
        sums[slot] = sums[slot].wrapping_add(v);
        for d in (0..xs.len()).rev() {
            idx[d] += 1;
            slot += out_strides[d];
            if idx[d] < xs[d] {
                break;
            }
            slot -= out_strides[d] * idx[d];
            idx[d] = 0;
        }
    }
    let r = c.requant;
    Ok(sums
        .iter()
        .map(|&sum| {
            let shifted =
                (sum as i64).wrapping_sub((c.input_zero_point as i64).wrapping_mul(count)) as i32;
            multiply_by_quantized_multiplier(shifted, r.multiplier, r.shift)
                .wrapping_add(c.output_zero_point)
                .clamp(c.act_min, c.act_max)
        })
        .collect())
}

/// Runs an f32 reduction of `x` (shape `xs`) into `out_len` outputs with the
/// interpreter's arithmetic: each reduced axis, the last first, folded in index order
/// from 0 (sum, mean), -inf (max) or +inf (min), NaN winning max and min; a mean then
/// divides by the number of reduced values.
pub fn reduce_f32(
    c: &Reduce,
    kind: ReduceKind,
    x: &[f32],
    xs: &[usize],
    out_len: usize,
) -> Result<Vec<f32>> {
    let mut axes = c.axes.clone();
    axes.sort_unstable();
    axes.dedup();
    if axes.iter().any(|&a| a >= xs.len()) {
        return Err(Error::at_node(&c.name, "reduction axis out of range"));
    }
    let nan_or = |a: f32, b: f32, v: f32| {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else {
            v
        }
    };
    let (init, f): (f32, &dyn Fn(f32, f32) -> f32) = match kind {
        ReduceKind::Sum | ReduceKind::Mean => (0.0, &|a, b| a + b),
        ReduceKind::Max => (f32::NEG_INFINITY, &|a, b| nan_or(a, b, a.max(b))),
        ReduceKind::Min => (f32::INFINITY, &|a, b| nan_or(a, b, a.min(b))),
        ReduceKind::Prod => {
            return Err(Error::at_node(&c.name, "the NPU has no product reduction"))
        }
    };
    let mut shape = xs.to_vec();
    let mut data = x.to_vec();
    for &a in axes.iter().rev() {
        let outer: usize = shape[..a].iter().product();
        let inner: usize = shape[a + 1..].iter().product();
        let n = shape[a];
        let mut folded = vec![init; outer * inner];
        for o in 0..outer {
            for k in 0..n {
                let row = &data[(o * n + k) * inner..(o * n + k + 1) * inner];
                for (acc, &v) in folded[o * inner..(o + 1) * inner].iter_mut().zip(row) {
                    *acc = f(*acc, v);
                }
            }
        }
        shape.remove(a);
        data = folded;
    }
    if data.len() != out_len {
        return Err(Error::at_node(
            &c.name,
            "output size does not match the reduction",
        ));
    }
    if kind == ReduceKind::Mean {
        let count = axes.iter().map(|&a| xs[a]).product::<usize>() as f32;
        data.iter_mut().for_each(|v| *v /= count);
    }
    Ok(data)
}
