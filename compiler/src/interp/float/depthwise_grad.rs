//! Gradients of depthwise convolutions (one input channel per group), in parallel over
//! planes, on the stride phases of the forward kernel ([`Phases`]): the input gradient
//! adds each tap's products to a whole phase at once, the weight gradient is one dot
//! product ([`dot`]) a tap over every image's phases. Sums run in a fixed order (images, then the
//! channel multiplier, then taps in kernel-row, kernel-column order), whatever the thread
//! count.

use super::conv::{check_groups, Geometry};
use super::conv_nchw::Phases;
use super::util::{f32_input, from_nhwc, to_nhwc};
use crate::interp::Operand;
use crate::ir::{ConvAttrs, Layout, Tensor};
use crate::kernels::dot;
use crate::{bail, Result};
use ndarray::{Array4, ArrayD, Ix4, IxDyn};
use rayon::prelude::*;

/// The input (`wrt_input`) or weight gradient of depthwise convolution `c` on
/// (x, w, dy), or `None` when `c` is not depthwise.
pub(super) fn depthwise_grad(
    c: &ConvAttrs,
    wrt_input: bool,
    inputs: &[Operand<'_>],
) -> Result<Option<Tensor>> {
    let w = f32_input(inputs, 1, "conv weight")?;
    let Ok(w4) = w.view().into_dimensionality::<Ix4>() else {
        bail!("conv weight must have rank 4, got shape {:?}", w.shape());
    };
    let (o, kh, kw, cg) = match c.layout {
        Layout::Nchw => (w4.dim().0, w4.dim().2, w4.dim().3, w4.dim().1),
        Layout::Nhwc => w4.dim(),
    };
    if c.group <= 1 || cg != 1 {
        return Ok(None);
    }
    let x = nchw(f32_input(inputs, 0, "conv input")?, c.layout, "conv input")?;
    let dy = nchw(
        f32_input(inputs, 2, "output gradient")?,
        c.layout,
        "output gradient",
    )?;
    let (n, ch, h, wd) = x.dim();
    check_groups(c, ch, w.shape(), (kh, kw, cg, o))?;
    let g = Geometry::new(c, h, wd, kh, kw)?;
    let [ho, wo] = g.out;
    if dy.dim() != (n, o, ho, wo) {
        bail!(
            "output gradient {:?} does not match the convolution",
            dy.shape()
        );
    }
    // OIHW and OHWI depthwise weights are both (o, kh, kw) in memory.
    let w = w.as_standard_layout();
    let taps = w.as_slice().expect("standard layout");
    let sizes = Sizes {
        n,
        ch,
        mult: o / ch,
        plane: [h, wd],
        out: [ho, wo],
        kernel: [kh, kw],
    };
    let xs = x.as_slice().expect("standard layout");
    let dys = dy.as_slice().expect("standard layout");
    if wrt_input {
        let mut dx = Array4::<f32>::zeros((n, ch, h, wd));
        input_grad(
            &g,
            &sizes,
            dys,
            taps,
            dx.as_slice_mut().expect("fresh array"),
        );
        return Ok(Some(Tensor::F32(nchw_to_layout(dx, c.layout))));
    }
    let dw = weight_grad(&g, &sizes, xs, dys);
    let dw = ArrayD::from_shape_vec(IxDyn(w4.shape()), dw).expect("one value per weight");
    Ok(Some(Tensor::F32(dw)))
}

/// Shapes of one depthwise convolution, NCHW.
struct Sizes {
    n: usize,
    ch: usize,
    mult: usize,
    plane: [usize; 2],
    out: [usize; 2],
    kernel: [usize; 2],
}

/// A 4-D activation as an NCHW standard-layout array.
fn nchw(a: &ArrayD<f32>, layout: Layout, what: &str) -> Result<Array4<f32>> {
    let Ok(a4) = a.view().into_dimensionality::<Ix4>() else {
        bail!("{what} must have rank 4, got shape {:?}", a.shape());
    };
    Ok(match layout {
        Layout::Nchw => a4.as_standard_layout().into_owned(),
        Layout::Nhwc => {
            let nchw = from_nhwc(a4.as_standard_layout().into_owned(), Layout::Nchw);
            nchw.into_dimensionality::<Ix4>().expect("rank 4")
        }
    })
}

/// An NCHW result in `layout`.
fn nchw_to_layout(a: Array4<f32>, layout: Layout) -> ArrayD<f32> {
    match layout {
        Layout::Nchw => a.into_dyn(),
        Layout::Nhwc => to_nhwc(&a.into_dyn(), Layout::Nchw, "gradient")
            .expect("rank 4")
            .into_dyn(),
    }
}

/// Output plane `dy` in rows `cols` wide (zeros past the output width).
fn widen(dy: &[f32], [ho, wo]: [usize; 2], cols: usize, out: &mut [f32]) {
    out.fill(0.0);
    for (src, dst) in dy.chunks_exact(wo).zip(out.chunks_exact_mut(cols)).take(ho) {
        dst[..wo].copy_from_slice(src);
    }
}

/// `dx`, one input plane per task: every output channel reading the plane spreads
/// `dy * tap` over the phases, which are then merged back into the plane.
fn input_grad(g: &Geometry, s: &Sizes, dy: &[f32], taps: &[f32], dx: &mut [f32]) {
    let ([h, wd], [ho, wo], [kh, kw]) = (s.plane, s.out, s.kernel);
    let phases = Phases::new(g, s.kernel);
    let wide = ho * phases.cols;
    let o = s.ch * s.mult;
    dx.par_chunks_mut((h * wd).max(1))
        .enumerate()
        .for_each_init(
            || (vec![0f32; phases.len()], vec![0f32; wide]),
            |(acc, dyw), (p, plane)| {
                let (b, ic) = (p / s.ch, p % s.ch);
                acc.fill(0.0);
                for oc in ic * s.mult..(ic + 1) * s.mult {
                    widen(
                        &dy[(b * o + oc) * ho * wo..][..ho * wo],
                        s.out,
                        phases.cols,
                        dyw,
                    );
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let t = taps[(oc * kh + ky) * kw + kx];
                            let start = phases.tap_start(g, [ky, kx]);
                            for (a, &d) in acc[start..start + wide].iter_mut().zip(dyw.iter()) {
                                *a += d * t;
                            }
                        }
                    }
                }
                phases.merge(acc, s.plane, g, plane);
            },
        );
}

/// `dw`, one output channel per task: each tap's dot product of `dy` with the input
/// phases, summed over the images.
fn weight_grad(g: &Geometry, s: &Sizes, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let ([h, wd], [ho, wo], [kh, kw]) = (s.plane, s.out, s.kernel);
    let phases = Phases::new(g, s.kernel);
    let wide = ho * phases.cols;
    let o = s.ch * s.mult;
    let mut dw = vec![0f32; o * kh * kw];
    dw.par_chunks_mut((kh * kw).max(1))
        .enumerate()
        .for_each_init(
            || (vec![0f32; phases.len()], vec![0f32; wide]),
            |(split, dyw), (oc, dwo)| {
                let ic = oc / s.mult;
                for b in 0..s.n {
                    phases.split(&x[(b * s.ch + ic) * h * wd..][..h * wd], s.plane, g, split);
                    widen(
                        &dy[(b * o + oc) * ho * wo..][..ho * wo],
                        s.out,
                        phases.cols,
                        dyw,
                    );
                    for (t, acc) in dwo.iter_mut().enumerate() {
                        let start = phases.tap_start(g, [t / kw, t % kw]);
                        *acc += dot(&split[start..start + wide], dyw);
                    }
                }
            },
        );
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, op, rand};

    fn attrs(
        layout: Layout,
        strides: [usize; 2],
        dilations: [usize; 2],
        pads: [usize; 4],
        group: usize,
    ) -> ConvAttrs {
        ConvAttrs {
            layout,
            strides,
            dilations,
            pads,
            group,
            activation: None,
        }
    }

    #[test]
    fn matches_the_direct_gradients() {
        // (x NCHW, weights OIHW, strides, dilations, pads): plain, strided with asymmetric
        // pads, dilated with a channel multiplier of 2.
        let cases = [
            ([2, 3, 6, 7], [3, 1, 3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            ([1, 4, 9, 8], [4, 1, 3, 3], [2, 2], [1, 1], [0, 1, 1, 0]),
            ([1, 2, 7, 7], [4, 1, 2, 3], [1, 2], [2, 1], [1, 2, 0, 1]),
        ];
        for (xs, ws, strides, dilations, pads) in cases {
            for layout in [Layout::Nchw, Layout::Nhwc] {
                let c = attrs(layout, strides, dilations, pads, xs[1]);
                let (mut x, mut w) = (rand(&xs, 1), rand(&ws, 2));
                let fwd = crate::interp::float::conv::conv(
                    &attrs(Layout::Nchw, strides, dilations, pads, xs[1]),
                    &[op(&Tensor::F32(x.clone())), op(&Tensor::F32(w.clone()))],
                )
                .unwrap();
                let mut dy = rand(fwd.shape(), 3);
                if layout == Layout::Nhwc {
                    let perm = |a: &ArrayD<f32>, p: [usize; 4]| {
                        a.view()
                            .permuted_axes(p.to_vec())
                            .as_standard_layout()
                            .into_owned()
                    };
                    x = perm(&x, [0, 2, 3, 1]);
                    w = perm(&w, [0, 2, 3, 1]);
                    dy = perm(&dy, [0, 2, 3, 1]);
                }
                let (xt, wt, dyt) = (Tensor::F32(x), Tensor::F32(w), Tensor::F32(dy));
                let args = [op(&xt), op(&wt), op(&dyt)];
                for wrt_input in [true, false] {
                    let got = depthwise_grad(&c, wrt_input, &args).unwrap().unwrap();
                    let want = super::super::grad::conv_grad(&c, wrt_input, &args).unwrap();
                    let (Tensor::F32(got), Tensor::F32(want)) = (got, want) else {
                        panic!()
                    };
                    assert_close(&got, &want, 1e-5);
                }
            }
        }
    }

    #[test]
    fn leaves_other_convolutions_alone() {
        let (x, w, dy) = (
            rand(&[1, 4, 5, 5], 1),
            rand(&[2, 2, 3, 3], 2),
            rand(&[1, 2, 3, 3], 3),
        );
        let (xt, wt, dyt) = (Tensor::F32(x), Tensor::F32(w), Tensor::F32(dy));
        let c = attrs(Layout::Nchw, [1, 1], [1, 1], [0; 4], 2);
        assert!(depthwise_grad(&c, true, &[op(&xt), op(&wt), op(&dyt)])
            .unwrap()
            .is_none());
    }
}
