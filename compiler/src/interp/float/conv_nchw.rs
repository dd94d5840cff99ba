//! NCHW convolution without layout changes (ONNX models): per image, `out (O x HoWo) =
//! W (O x K) · cols (K x HoWo)` with a row-per-tap im2col packed for the matrix kernel
//! (the input itself for pointwise convolutions), and depthwise convolutions plane by
//! plane. Moving every activation to NHWC and back would cost more than the
//! convolutions' arithmetic.

use super::conv::Geometry;
use crate::kernels::{mat_mul_packed, PackedB};
use ndarray::{Array4, ArrayView2, ArrayView4};
use rayon::prelude::*;

/// Ungrouped convolution of NCHW `x` with OIHW `w`, into NCHW: the weights as they are
/// (reduction order input channel, kernel row, kernel column) times the packed im2col
/// matrix of each image.
pub(super) fn conv(x: ArrayView4<'_, f32>, w: ArrayView4<'_, f32>, g: &Geometry) -> Array4<f32> {
    let (n, cin, h, wd) = x.dim();
    let (o, _, kh, kw) = w.dim();
    let [ho, wo] = g.out;
    let k = cin * kh * kw;
    let w = w.as_standard_layout();
    let wm = w
        .view()
        .into_shape_with_order((o, k))
        .expect("standard layout");
    let pointwise = kh == 1 && kw == 1 && g.is_identity_window() && (ho, wo) == (h, wd);
    let mut out = Array4::<f32>::zeros((n, o, ho, wo));
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    for b in 0..n {
        let xb = &xs[b * cin * h * wd..][..cin * h * wd];
        let cols = if pointwise {
            let xm = ArrayView2::from_shape((cin, h * wd), xb).expect("cin planes");
            PackedB::new(xm)
        } else {
            PackedB::from_rows(k, ho * wo, |r, row| {
                im2col_row(xb, g, [h, wd, kh, kw], r, row);
            })
        };
        mat_mul_packed(wm, &cols, &mut os[b * o * ho * wo..][..o * ho * wo]);
    }
    out
}

/// Row `r` = (input channel, kernel row, kernel column) of the im2col matrix of one CHW
/// image: the tap's input value for every output pixel (untouched where it falls in the
/// padding).
fn im2col_row(xb: &[f32], g: &Geometry, [h, wd, kh, kw]: [usize; 4], r: usize, row: &mut [f32]) {
    let (ci, ky, kx) = (r / (kh * kw), r / kw % kh, r % kw);
    let plane = &xb[ci * h * wd..][..h * wd];
    let [ho, wo] = g.out;
    // Output columns whose tap falls inside the input.
    let lo = (0..wo).find(|&ox| g.source(1, ox, kx, wd).is_some());
    let Some(lo) = lo else { return };
    let hi = (lo..wo)
        .rev()
        .find(|&ox| g.source(1, ox, kx, wd).is_some())
        .expect("lo is inside")
        + 1;
    let ix0 = g.source(1, lo, kx, wd).expect("inside");
    let stride = g.strides()[1];
    for oy in 0..ho {
        let Some(iy) = g.source(0, oy, ky, h) else {
            continue;
        };
        let src = &plane[iy * wd + ix0..(iy + 1) * wd];
        let dst = &mut row[oy * wo + lo..oy * wo + hi];
        if stride == 1 {
            dst.copy_from_slice(&src[..hi - lo]);
        } else {
            for (d, &v) in dst.iter_mut().zip(src.iter().step_by(stride)) {
                *d = v;
            }
        }
    }
}

/// Depthwise convolution (one input channel per group, `o / cin` outputs each) of NCHW
/// `x` with OIHW `w` (`[o, 1, kh, kw]`), into NCHW: each output plane accumulates its
/// taps in kernel-row, kernel-column order, as the NHWC kernel does.
pub(super) fn depthwise(
    x: ArrayView4<'_, f32>,
    w: ArrayView4<'_, f32>,
    g: &Geometry,
) -> Array4<f32> {
    let (n, cin, h, wd) = x.dim();
    let (o, _, kh, kw) = w.dim();
    let mult = o / cin;
    let [ho, wo] = g.out;
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = Array4::<f32>::zeros((n, o, ho, wo));
    let os = out.as_slice_mut().expect("fresh array is contiguous");
    // Output columns whose tap `kx` falls inside the input, and that tap's first column.
    let cols: Vec<(usize, usize)> = (0..kw)
        .map(|kx| {
            let lo = (0..wo).find(|&ox| g.source(1, ox, kx, wd).is_some());
            let hi = (0..wo).rev().find(|&ox| g.source(1, ox, kx, wd).is_some());
            match (lo, hi) {
                (Some(lo), Some(hi)) => (lo, hi + 1),
                _ => (0, 0),
            }
        })
        .collect();
    let stride = g.strides()[1];
    os.par_chunks_mut((ho * wo).max(1))
        .enumerate()
        .for_each(|(p, dst)| {
            let (b, oc) = (p / o, p % o);
            let plane = &xs[(b * cin + oc / mult) * h * wd..][..h * wd];
            for oy in 0..ho {
                let row = &mut dst[oy * wo..(oy + 1) * wo];
                for ky in 0..kh {
                    let Some(iy) = g.source(0, oy, ky, h) else {
                        continue;
                    };
                    let src = &plane[iy * wd..(iy + 1) * wd];
                    for kx in 0..kw {
                        let t = w[[oc, 0, ky, kx]];
                        let (lo, hi) = cols[kx];
                        if lo >= hi {
                            continue;
                        }
                        let ix0 = g.source(1, lo, kx, wd).expect("inside");
                        let taps = src[ix0..].iter().step_by(stride);
                        if stride == 1 {
                            let src = &src[ix0..ix0 + (hi - lo)];
                            for (d, &v) in row[lo..hi].iter_mut().zip(src) {
                                *d += v * t;
                            }
                        } else {
                            for (d, &v) in row[lo..hi].iter_mut().zip(taps) {
                                *d += v * t;
                            }
                        }
                    }
                }
            }
        });
    out
}
