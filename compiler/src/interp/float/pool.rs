//! Max and average pooling over any number of spatial axes, channels first or last.

use super::num::Num;
use super::util::{activate, arity, f32_input, input, num_variant};
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
    match (out, act) {
        (out, None) => Ok(out),
        (Tensor::F32(mut o), act) => {
            activate(&mut o, act);
            Ok(Tensor::F32(o))
        }
        (out, Some(_)) => bail!("a fused activation needs f32 data, got {}", out.dtype()),
    }
}

/// The windows of one axis: per output position, the input indices it reads and how many
/// of its taps fall inside the padded input.
struct AxisTaps {
    taps: Vec<Vec<usize>>,
    padded_count: Vec<usize>,
}

fn axis_taps(input: usize, w: &Window1d, ceil_mode: bool) -> Result<AxisTaps> {
    let size = w.out_size(input, ceil_mode)?;
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
    let rank = x.ndim();
    let nd = w.axes.len();
    if rank != nd + 2 {
        bail!("pool input {:?} needs rank {}", x.shape(), nd + 2);
    }
    // Channels last: [N, spatial..., C].
    let mut perm: Vec<usize> = match w.layout {
        Layout::Nchw => (0..rank).filter(|&a| a != 1).collect(),
        Layout::Nhwc => (0..rank).collect(),
    };
    if w.layout == Layout::Nchw {
        perm.push(1);
    }
    let xl = x.view().permuted_axes(perm.clone());
    let xl = xl.as_standard_layout();
    let data = xl.as_slice().expect("standard layout");
    let shape = xl.shape();
    let (n, c, inputs) = (shape[0], shape[rank - 1], &shape[1..rank - 1]);
    let axes = (0..nd)
        .map(|i| axis_taps(inputs[i], &w.axes[i], w.ceil_mode))
        .collect::<Result<Vec<_>>>()?;
    // Element stride of each spatial axis and of the batch axis.
    let mut strides = vec![0; nd];
    let mut acc_stride = c;
    for i in (0..nd).rev() {
        strides[i] = acc_stride;
        acc_stride *= inputs[i];
    }
    let out_sizes: Vec<usize> = axes.iter().map(|a| a.taps.len()).collect();
    let positions: usize = out_sizes.iter().product();
    let mut out = vec![init; n * positions * c];
    let mut index = vec![0usize; nd];
    let mut tap = vec![0usize; nd];
    for (p, acc) in out.chunks_exact_mut(c.max(1)).enumerate() {
        let (b, mut rem) = (p / positions, p % positions);
        for i in (0..nd).rev() {
            index[i] = rem % out_sizes[i];
            rem /= out_sizes[i];
        }
        let lists: Vec<&[usize]> = (0..nd).map(|i| &axes[i].taps[index[i]][..]).collect();
        let count: usize = lists.iter().map(|l| l.len()).product();
        let padded: usize = (0..nd).map(|i| axes[i].padded_count[index[i]]).product();
        tap.iter_mut().for_each(|t| *t = 0);
        for _ in 0..count {
            let at = b * acc_stride
                + (0..nd)
                    .map(|i| lists[i][tap[i]] * strides[i])
                    .sum::<usize>();
            step(acc, &data[at..at + c]);
            // Odometer over the taps of every axis.
            for i in (0..nd).rev() {
                tap[i] += 1;
                if tap[i] < lists[i].len() {
                    break;
                }
                tap[i] = 0;
            }
        }
        finish(acc, count, padded);
    }
    let mut out_shape = vec![n];
    out_shape.extend(&out_sizes);
    out_shape.push(c);
    let out = ArrayD::from_shape_vec(out_shape, out).expect("sizes");
    // Back to the input's layout.
    let mut inverse = vec![0; rank];
    for (i, &a) in perm.iter().enumerate() {
        inverse[a] = i;
    }
    Ok(out.permuted_axes(inverse).as_standard_layout().into_owned())
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
