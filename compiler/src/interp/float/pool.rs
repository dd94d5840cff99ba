//! 2-D max and average pooling in NCHW or NHWC.

use super::num::Num;
use super::util::{activate, arity, f32_input, from_nhwc, input, num_variant, to_nhwc};
use crate::interp::Operand;
use crate::ir::infer::conv_out_size;
use crate::ir::{Activation, Layout, PoolKind, Tensor};
use crate::{bail, Result};
use ndarray::{Array4, ArrayD};

/// A pooling window: size, strides and `[top, left, bottom, right]` padding.
pub(super) struct Window {
    pub layout: Layout,
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub pads: [usize; 4],
}

/// Pooling: max works on any numeric type (padding never wins), average on f32 divides
/// by the window area inside the padded input (`count_include_pad`) or inside the input.
pub(super) fn pool(
    kind: PoolKind,
    w: &Window,
    count_include_pad: bool,
    act: Option<Activation>,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let out = match kind {
        PoolKind::Max => {
            let x = input(inputs, 0)?;
            num_variant!(x, "max pool", V(a) => { V(max_pool(a, w)?) })
        }
        PoolKind::Avg => Tensor::F32(avg_pool(
            f32_input(inputs, 0, "average pool input")?,
            w,
            count_include_pad,
        )?),
    };
    match (out, act) {
        (out, None) => Ok(out),
        (Tensor::F32(mut o), act) => {
            activate(&mut o, act);
            Ok(Tensor::F32(o))
        }
        (out, Some(_)) => bail!("a fused activation needs f32 data, got {}", out.dtype()),
    }
}

/// Output extent and, per output position, the clipped input range and the range clipped
/// to the padded input, along one axis.
struct AxisWindows {
    size: usize,
    /// `(start, end)` inside the input.
    valid: Vec<(usize, usize)>,
    /// Window length inside the padded input.
    padded_len: Vec<usize>,
}

fn axis_windows(
    input: usize,
    kernel: usize,
    stride: usize,
    pad_before: usize,
    pad_after: usize,
) -> Result<AxisWindows> {
    let size = conv_out_size(input, kernel, stride, 1, pad_before + pad_after)?;
    let mut valid = Vec::with_capacity(size);
    let mut padded_len = Vec::with_capacity(size);
    for o in 0..size {
        let start = (o * stride) as i64 - pad_before as i64;
        let end = start + kernel as i64;
        let clip = |lo: i64, hi: i64| (start.clamp(lo, hi), end.clamp(lo, hi));
        let (s, e) = clip(0, input as i64);
        valid.push((s as usize, e as usize));
        let (s, e) = clip(-(pad_before as i64), (input + pad_after) as i64);
        padded_len.push((e - s) as usize);
    }
    Ok(AxisWindows {
        size,
        valid,
        padded_len,
    })
}

/// Runs `f(acc, pixel)` over the valid pixels of each window; `finish(acc, count)` ends a
/// window, with `count` the number of valid pixels.
fn pool_nhwc<T: Copy>(
    x: &ArrayD<T>,
    w: &Window,
    init: T,
    step: impl Fn(&mut [T], &[T]),
    finish: impl Fn(&mut [T], usize, usize),
) -> Result<ArrayD<T>> {
    let x = to_nhwc(x, w.layout, "pool input")?;
    let (n, h, wd, c) = x.dim();
    let ys = axis_windows(h, w.kernel[0], w.strides[0], w.pads[0], w.pads[2])?;
    let xs = axis_windows(wd, w.kernel[1], w.strides[1], w.pads[1], w.pads[3])?;
    let data = x.as_slice().expect("standard layout");
    let mut out = vec![init; n * ys.size * xs.size * c];
    for (px, acc) in out.chunks_exact_mut(c.max(1)).enumerate() {
        let (b, oy, ox) = (
            px / (ys.size * xs.size),
            px / xs.size % ys.size,
            px % xs.size,
        );
        let ((y0, y1), (x0, x1)) = (ys.valid[oy], xs.valid[ox]);
        for iy in y0..y1 {
            for ix in x0..x1 {
                let at = ((b * h + iy) * wd + ix) * c;
                step(acc, &data[at..at + c]);
            }
        }
        finish(
            acc,
            (y1 - y0) * (x1 - x0),
            ys.padded_len[oy] * xs.padded_len[ox],
        );
    }
    let out = Array4::from_shape_vec((n, ys.size, xs.size, c), out).expect("sizes");
    Ok(from_nhwc(out, w.layout))
}

fn max_pool<T: Num>(x: &ArrayD<T>, w: &Window) -> Result<ArrayD<T>> {
    pool_nhwc(
        x,
        w,
        T::LOWEST,
        |acc, px| acc.iter_mut().zip(px).for_each(|(a, &v)| *a = a.max_nan(v)),
        |_, _, _| {},
    )
}

fn avg_pool(x: &ArrayD<f32>, w: &Window, count_include_pad: bool) -> Result<ArrayD<f32>> {
    pool_nhwc(
        x,
        w,
        0.0,
        |acc, px| acc.iter_mut().zip(px).for_each(|(a, &v)| *a += v),
        |acc, valid, padded| {
            let count = if count_include_pad { padded } else { valid };
            if count > 0 {
                acc.iter_mut().for_each(|a| *a /= count as f32);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, f32t, op};

    fn win(layout: Layout, kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4]) -> Window {
        Window {
            layout,
            kernel,
            strides,
            pads,
        }
    }

    #[test]
    fn max_and_avg_with_padding() {
        // 1x1x3x3 input 1..9, 2x2 window, stride 2, pad 1 on every side -> 2x2 output.
        let x = f32t(
            &[1, 1, 3, 3],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        );
        let w = win(Layout::Nchw, [2, 2], [2, 2], [1, 1, 1, 1]);
        let max = pool(PoolKind::Max, &w, false, None, &[op(&x)]).unwrap();
        assert_eq!(max, f32t(&[1, 1, 2, 2], &[1.0, 3.0, 7.0, 9.0]));
        let avg = pool(PoolKind::Avg, &w, false, None, &[op(&x)]).unwrap();
        assert_eq!(avg, f32t(&[1, 1, 2, 2], &[1.0, 2.5, 5.5, 7.0]));
        let avg = pool(PoolKind::Avg, &w, true, None, &[op(&x)]).unwrap();
        assert_eq!(avg, f32t(&[1, 1, 2, 2], &[0.25, 1.25, 2.75, 7.0]));
    }

    #[test]
    fn negative_values_ignore_padding_in_max() {
        let x = f32t(&[1, 1, 1, 2], &[-3.0, -2.0]);
        let w = win(Layout::Nchw, [1, 2], [1, 1], [0, 1, 0, 1]);
        let max = pool(PoolKind::Max, &w, false, Some(Activation::Relu6), &[op(&x)]).unwrap();
        assert_eq!(max, f32t(&[1, 1, 1, 3], &[0.0, 0.0, 0.0]));
        let max = pool(PoolKind::Max, &w, false, None, &[op(&x)]).unwrap();
        assert_eq!(max, f32t(&[1, 1, 1, 3], &[-3.0, -2.0, -2.0]));
    }

    #[test]
    fn nhwc_matches_nchw() {
        let x = crate::interp::float::util::tests::rand(&[2, 3, 5, 4], 7);
        let nhwc = x
            .clone()
            .permuted_axes(vec![0, 2, 3, 1])
            .as_standard_layout()
            .into_owned();
        for kind in [PoolKind::Max, PoolKind::Avg] {
            let a = pool(
                kind,
                &win(Layout::Nchw, [3, 2], [2, 1], [1, 0, 1, 1]),
                true,
                None,
                &[op(&Tensor::F32(x.clone()))],
            );
            let b = pool(
                kind,
                &win(Layout::Nhwc, [3, 2], [2, 1], [1, 0, 1, 1]),
                true,
                None,
                &[op(&Tensor::F32(nhwc.clone()))],
            );
            let (Tensor::F32(a), Tensor::F32(b)) = (a.unwrap(), b.unwrap()) else {
                panic!()
            };
            let a = a
                .permuted_axes(vec![0, 2, 3, 1])
                .as_standard_layout()
                .into_owned();
            assert_close(&a, &b, 1e-6);
        }
    }

    #[test]
    fn max_pool_on_integers_and_errors() {
        let x = Tensor::I8(
            ndarray::ArrayD::from_shape_vec(vec![1, 2, 2, 1], vec![-5i8, 7, 3, -1]).unwrap(),
        );
        let w = win(Layout::Nhwc, [2, 2], [1, 1], [0; 4]);
        let out = pool(PoolKind::Max, &w, false, None, &[op(&x)]).unwrap();
        assert_eq!(
            out,
            Tensor::I8(ndarray::ArrayD::from_shape_vec(vec![1, 1, 1, 1], vec![7i8]).unwrap())
        );
        assert!(pool(PoolKind::Avg, &w, false, None, &[op(&x)]).is_err());
        assert!(pool(PoolKind::Max, &w, false, Some(Activation::Relu), &[op(&x)]).is_err());
        let big = win(Layout::Nhwc, [3, 3], [1, 1], [0; 4]);
        assert!(pool(PoolKind::Max, &big, false, None, &[op(&x)]).is_err());
    }
}
