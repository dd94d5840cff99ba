//! Max and average pooling over any number of spatial axes, channels first or last.

use super::num::Num;
use super::util::{apply_fused_activation, arity, f32_input, input, num_variant};
use crate::interp::Operand;
use crate::ir::infer::Window1d;
use crate::ir::{Activation, Layout, PoolKind, Tensor};
use crate::{bail, Result};
use ndarray::ArrayD;

/// A pooling window: one [`Window1d`] per spatial axis.
pub(super) struct Window {
    pub layout: Layout,
    pub axes: Vec<Window1d>,
    pub ceil_mode: bool,
}

/// Pooling: max works on any numeric type (padding never wins), average on f32 divides
/// by the window's taps inside the padded input (`count_include_pad`) or inside the input.
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
    apply_fused_activation(out, act)
}

/// The windows of one axis: per output position, the input indices it reads and how many
/// of its taps fall inside the padded input.
struct AxisTaps {
    taps: Vec<Vec<usize>>,
    padded_count: Vec<usize>,
}

fn axis_taps(input: usize, w: &Window1d, ceil_mode: bool) -> Result<AxisTaps> {
    let size = w.out_size(input, ceil_mode)?;
    // Each window lists its in-range taps (at most `input` of them).
    let per_window = 8 * w.kernel.min(input) + 2 * std::mem::size_of::<Vec<usize>>();
    crate::limits::buffer_bytes(size, per_window, "the pooling windows")?;
    let (mut taps, mut padded_count) = (Vec::with_capacity(size), Vec::with_capacity(size));
    let padded_end = (input + w.pad_end) as i64;
    for o in 0..size {
        let start = (o * w.stride) as i64 - w.pad_begin as i64;
        let positions = (0..w.kernel).map(|k| start + (k * w.dilation) as i64);
        taps.push(
            positions
                .clone()
                .filter(|&p| (0..input as i64).contains(&p))
                .map(|p| p as usize)
                .collect(),
        );
        padded_count.push(positions.filter(|&p| p < padded_end).count());
    }
    Ok(AxisTaps { taps, padded_count })
}

/// A pooling problem in channels-last order (`[N, spatial..., C]`): the axis permutation
/// from and to the input's layout and every window's input pixels.
struct Windows {
    perm: Vec<usize>,
    inverse: Vec<usize>,
    /// Batch, channels, and the output's spatial sizes.
    n: usize,
    c: usize,
    out_sizes: Vec<usize>,
    /// Per output position (batch-major), the element offsets of the input pixels it
    /// reads, and the number of its taps inside the padded input.
    taps: Vec<(Vec<usize>, usize)>,
}

impl Windows {
    fn new(shape: &[usize], w: &Window) -> Result<Self> {
        let rank = shape.len();
        let nd = w.axes.len();
        if rank != nd + 2 {
            bail!("pool input {shape:?} needs rank {}", nd + 2);
        }
        let mut perm: Vec<usize> = match w.layout {
            Layout::Nchw => (0..rank).filter(|&a| a != 1).collect(),
            Layout::Nhwc => (0..rank).collect(),
        };
        if w.layout == Layout::Nchw {
            perm.push(1);
        }
        let mut inverse = vec![0; rank];
        for (i, &a) in perm.iter().enumerate() {
            inverse[a] = i;
        }
        let cl: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
        let (n, c, inputs) = (cl[0], cl[rank - 1], &cl[1..rank - 1]);
        let axes = (0..nd)
            .map(|i| axis_taps(inputs[i], &w.axes[i], w.ceil_mode))
            .collect::<Result<Vec<_>>>()?;
        // Element stride of each spatial axis and of the batch axis.
        let mut strides = vec![0; nd];
        let mut batch_stride = c;
        for i in (0..nd).rev() {
            strides[i] = batch_stride;
            batch_stride *= inputs[i];
        }
        let out_sizes: Vec<usize> = axes.iter().map(|a| a.taps.len()).collect();
        let positions: usize = out_sizes.iter().product();
        let mut taps = Vec::with_capacity(n * positions);
        let mut index = vec![0usize; nd];
        let mut tap = vec![0usize; nd];
        for p in 0..n * positions {
            let (b, mut rem) = (p / positions, p % positions);
            for i in (0..nd).rev() {
                index[i] = rem % out_sizes[i];
                rem /= out_sizes[i];
            }
            let lists: Vec<&[usize]> = (0..nd).map(|i| &axes[i].taps[index[i]][..]).collect();
            let count: usize = lists.iter().map(|l| l.len()).product();
            let padded: usize = (0..nd).map(|i| axes[i].padded_count[index[i]]).product();
            tap.iter_mut().for_each(|t| *t = 0);
            let mut at = Vec::with_capacity(count);
            for _ in 0..count {
                at.push(
                    b * batch_stride
                        + (0..nd)
                            .map(|i| lists[i][tap[i]] * strides[i])
                            .sum::<usize>(),
                );
                // Odometer over the taps of every axis.
                for i in (0..nd).rev() {
                    tap[i] += 1;
                    if tap[i] < lists[i].len() {
                        break;
                    }
                    tap[i] = 0;
                }
            }
            taps.push((at, padded));
        }
        Ok(Windows {
            perm,
            inverse,
            n,
            c,
            out_sizes,
            taps,
        })
    }

    /// `x` in channels-last order, contiguous.
    fn channels_last<T: Copy>(&self, x: &ArrayD<T>) -> Vec<T> {
        let xl = x.view().permuted_axes(self.perm.clone());
        xl.as_standard_layout().iter().copied().collect()
    }

    /// Channels-last data of `shape_cl` back in the input's layout.
    fn restore<T: Clone>(&self, shape_cl: Vec<usize>, data: Vec<T>) -> ArrayD<T> {
        let a = ArrayD::from_shape_vec(shape_cl, data).expect("sizes");
        a.permuted_axes(self.inverse.clone())
            .as_standard_layout()
            .into_owned()
    }

    /// The channels-last output shape.
    fn out_shape(&self) -> Vec<usize> {
        let mut s = vec![self.n];
        s.extend(&self.out_sizes);
        s.push(self.c);
        s
    }
}

/// Runs `step(acc, pixel)` over the input pixels (channel vectors) of each window;
/// `finish(acc, count, padded_count)` ends a window, with `count` the number of input
/// pixels read and `padded_count` the number inside the padded input.
fn pool_windows<T: Copy>(
    x: &ArrayD<T>,
    w: &Window,
    init: T,
    step: impl Fn(&mut [T], &[T]),
    finish: impl Fn(&mut [T], usize, usize),
) -> Result<ArrayD<T>> {
    let win = Windows::new(x.shape(), w)?;
    let data = win.channels_last(x);
    let c = win.c;
    let mut out = vec![init; win.taps.len() * c];
    for (acc, (at, padded)) in out.chunks_exact_mut(c.max(1)).zip(&win.taps) {
        for &o in at {
            step(acc, &data[o..o + c]);
        }
        finish(acc, at.len(), *padded);
    }
    Ok(win.restore(win.out_shape(), out))
}

/// Gradient of pooling with respect to its input: max pooling routes each output
/// gradient to the first input that holds the window's maximum, average pooling spreads
/// it evenly over the window's divisor.
pub(super) fn pool_grad(
    kind: PoolKind,
    w: &Window,
    count_include_pad: bool,
    x: &ArrayD<f32>,
    dy: &ArrayD<f32>,
) -> Result<ArrayD<f32>> {
    let win = Windows::new(x.shape(), w)?;
    let expected = win.restore(win.out_shape(), vec![0u8; win.taps.len() * win.c]);
    if dy.shape() != expected.shape() {
        bail!(
            "output gradient {:?} does not match the pooled shape {:?}",
            dy.shape(),
            expected.shape()
        );
    }
    let (xd, gd) = (win.channels_last(x), win.channels_last(dy));
    let c = win.c;
    let mut dx = vec![0f32; xd.len()];
    for (p, (at, padded)) in win.taps.iter().enumerate() {
        for ch in 0..c {
            let g = gd[p * c + ch];
            match kind {
                PoolKind::Max => {
                    let best =
                        at.iter().copied().reduce(
                            |b, o| {
                                if xd[o + ch] > xd[b + ch] {
                                    o
                                } else {
                                    b
                                }
                            },
                        );
                    if let Some(b) = best {
                        dx[b + ch] += g;
                    }
                }
                PoolKind::Avg => {
                    let count = if count_include_pad { *padded } else { at.len() };
                    if count > 0 {
                        let share = g / count as f32;
                        at.iter().for_each(|&o| dx[o + ch] += share);
                    }
                }
            }
        }
    }
    let shape_cl: Vec<usize> = win.perm.iter().map(|&a| x.shape()[a]).collect();
    Ok(win.restore(shape_cl, dx))
}

fn max_pool<T: Num>(x: &ArrayD<T>, w: &Window) -> Result<ArrayD<T>> {
    pool_windows(
        x,
        w,
        T::LOWEST,
        |acc, px| acc.iter_mut().zip(px).for_each(|(a, &v)| *a = a.max_nan(v)),
        |_, _, _| {},
    )
}

fn avg_pool(x: &ArrayD<f32>, w: &Window, count_include_pad: bool) -> Result<ArrayD<f32>> {
    pool_windows(
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
        let axis = |i: usize| Window1d {
            kernel: kernel[i],
            stride: strides[i],
            dilation: 1,
            pad_begin: pads[i],
            pad_end: pads[i + 2],
        };
        Window {
            layout,
            axes: vec![axis(0), axis(1)],
            ceil_mode: false,
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

    fn axis(kernel: usize, stride: usize, dilation: usize, pads: (usize, usize)) -> Window1d {
        Window1d {
            kernel,
            stride,
            dilation,
            pad_begin: pads.0,
            pad_end: pads.1,
        }
    }

    #[test]
    fn one_d_ceil_mode_and_dilation() {
        let x = f32t(&[1, 1, 5], &[1.0, 5.0, 2.0, 4.0, 3.0]);
        let ceil = Window {
            layout: Layout::Nchw,
            axes: vec![axis(2, 2, 1, (0, 0))],
            ceil_mode: true,
        };
        // Windows [1, 5], [2, 4], [3]; the last one lies past the end padding, so even
        // count_include_pad divides by 1.
        for include in [false, true] {
            let avg = pool(PoolKind::Avg, &ceil, include, None, &[op(&x)]).unwrap();
            assert_eq!(avg, f32t(&[1, 1, 3], &[3.0, 3.0, 3.0]));
        }
        let dilated = Window {
            layout: Layout::Nchw,
            axes: vec![axis(2, 1, 2, (0, 0))],
            ceil_mode: false,
        };
        // Taps (0, 2), (1, 3), (2, 4).
        let max = pool(PoolKind::Max, &dilated, false, None, &[op(&x)]).unwrap();
        assert_eq!(max, f32t(&[1, 1, 3], &[2.0, 5.0, 3.0]));
    }

    #[test]
    fn three_d_matches_direct_loops() {
        let shape = [1, 2, 4, 5, 3];
        let x = crate::interp::float::util::tests::rand(&shape, 11);
        let axes = vec![
            axis(2, 2, 1, (1, 0)),
            axis(3, 1, 1, (0, 1)),
            axis(2, 1, 2, (1, 1)),
        ];
        let w = Window {
            layout: Layout::Nchw,
            axes: axes.clone(),
            ceil_mode: false,
        };
        let Tensor::F32(got) = pool(
            PoolKind::Avg,
            &w,
            true,
            None,
            &[op(&Tensor::F32(x.clone()))],
        )
        .unwrap() else {
            panic!()
        };
        let outs: Vec<usize> = (0..3)
            .map(|i| axes[i].out_size(shape[i + 2], false).unwrap())
            .collect();
        assert_eq!(got.shape(), &[1, 2, outs[0], outs[1], outs[2]]);
        let tap = |i: usize, o: usize, k: usize| {
            (o * axes[i].stride + k * axes[i].dilation) as i64 - axes[i].pad_begin as i64
        };
        for c in 0..2 {
            for (o0, o1, o2) in grid(&outs) {
                let (mut sum, mut count) = (0.0f32, 0);
                for k0 in 0..axes[0].kernel {
                    for k1 in 0..axes[1].kernel {
                        for k2 in 0..axes[2].kernel {
                            let p = [tap(0, o0, k0), tap(1, o1, k1), tap(2, o2, k2)];
                            count += 1;
                            if (0..3).all(|i| (0..shape[i + 2] as i64).contains(&p[i])) {
                                sum += x[[0, c, p[0] as usize, p[1] as usize, p[2] as usize]];
                            }
                        }
                    }
                }
                let want = sum / count as f32;
                assert!((got[[0, c, o0, o1, o2]] - want).abs() < 1e-5);
            }
        }
    }

    /// Every index triple below `outs`.
    fn grid(outs: &[usize]) -> Vec<(usize, usize, usize)> {
        let mut v = vec![];
        for a in 0..outs[0] {
            for b in 0..outs[1] {
                for c in 0..outs[2] {
                    v.push((a, b, c));
                }
            }
        }
        v
    }
}
