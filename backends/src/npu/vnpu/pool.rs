//! Max and average pooling over the valid taps of each 2-D window.

use crate::npu::program::{Pool, PoolKind};
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
                            let (sum, count) = taps.fold((0i32, 0i32), |(s, m), v| (s + v, m + 1));
                            if count == 0 {
                                0
                            } else if sum > 0 {
                                (sum + count / 2) / count
                            } else {
                                (sum - count / 2) / count
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
