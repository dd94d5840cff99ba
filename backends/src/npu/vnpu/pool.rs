//! Max and average pooling over the valid taps of each 2-D window, and mean/sum
//! reductions over arbitrary axes.

use crate::npu::program::{Pool, PoolKind, Reduce};
use nnopt_compiler::interp::fixedpoint::multiply_by_quantized_multiplier;
use nnopt_compiler::ir::Layout;
use nnopt_compiler::{Error, Result};

/// Runs a pooling command on `x` (shape `xs`) into an output of shape `os`.
pub fn pool(c: &Pool, x: &[i32], xs: &[usize], os: &[usize]) -> Result<Vec<i32>> {
    let (n, h, w, ch, oh, ow) = match (c.layout, xs, os) {
        (Layout::Nhwc, [n, h, w, ch], [_, oh, ow, _]) => (*n, *h, *w, *ch, *oh, *ow),
        (Layout::Nchw, [n, ch, h, w], [_, _, oh, ow]) => (*n, *h, *w, *ch, *oh, *ow),
        _ => return Err(Error::at_node(&c.name, "pooling needs 4-D tensors")),
    };
    let index = |b: usize, y: usize, xx: usize, k: usize, hh: usize, ww: usize| match c.layout {
        Layout::Nhwc => ((b * hh + y) * ww + xx) * ch + k,
        Layout::Nchw => ((b * ch + k) * hh + y) * ww + xx,
    };
    let mut out = vec![0i32; n * oh * ow * ch];
    for b in 0..n {
        for oy in 0..oh {
            let y0 = (oy * c.strides[0]) as isize - c.pads[0] as isize;
            let ys = y0.max(0) as usize..(y0 + c.kernel[0] as isize).clamp(0, h as isize) as usize;
            for ox in 0..ow {
                let x0 = (ox * c.strides[1]) as isize - c.pads[1] as isize;
                let xr =
                    x0.max(0) as usize..(x0 + c.kernel[1] as isize).clamp(0, w as isize) as usize;
                for k in 0..ch {
                    let taps = ys
                        .clone()
                        .flat_map(|y| xr.clone().map(move |xx| (y, xx)))
                        .map(|(y, xx)| x[index(b, y, xx, k, h, w)]);
                    let v = match c.kind {
                        PoolKind::Max => taps.max().unwrap_or(c.act_min),
                        PoolKind::Avg => {
                            let (sum, count) =
                                taps.fold((0i32, 0i32), |(s, m), v| (s.wrapping_add(v), m + 1));
                            if count == 0 {
                                0
                            } else if sum > 0 {
                                sum.wrapping_add(count / 2) / count
                            } else {
                                sum.wrapping_sub(count / 2) / count
                            }
                        }
                    };
                    out[index(b, oy, ox, k, oh, ow)] = v.clamp(c.act_min, c.act_max);
                }
            }
        }
    }
    Ok(out)
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
