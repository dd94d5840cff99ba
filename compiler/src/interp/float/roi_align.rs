//! RoiAlign: average or maximum of bilinear samples on a grid inside each bin of each
//! region of interest, as ONNX's reference (and onnxruntime) compute it.

use super::util::{arity, f32_input, input};
use crate::interp::Operand;
use crate::ir::{PoolKind, RoiAlignAttrs, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// One bilinear sample: four flat pixel offsets and their weights.
type Sample = [(usize, f64); 4];

/// The bilinear sample of an `h x w` plane at `(y, x)`: zero weights more than a pixel
/// outside, clamped to the border inside that margin.
fn sample(h: usize, w: usize, y: f64, x: f64) -> Sample {
    if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
        return [(0, 0.0); 4];
    }
    let axis = |v: f64, n: usize| {
        let v = v.max(0.0);
        let low = v as usize;
        if low >= n - 1 {
            (n - 1, n - 1, 0.0)
        } else {
            (low, low + 1, v - low as f64)
        }
    };
    let (y0, y1, ly) = axis(y, h);
    let (x0, x1, lx) = axis(x, w);
    let (hy, hx) = (1.0 - ly, 1.0 - lx);
    [
        (y0 * w + x0, hy * hx),
        (y0 * w + x1, hy * lx),
        (y1 * w + x0, ly * hx),
        (y1 * w + x1, ly * lx),
    ]
}

/// RoiAlign of `x` `[N, C, H, W]` over `rois` `[R, 4]` (x1, y1, x2, y2) of the images
/// `batch_indices` `[R]`: `[R, C, output_height, output_width]`.
pub(super) fn roi_align(a: &RoiAlignAttrs, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 3, 3)?;
    let x = f32_input(inputs, 0, "roi_align data")?;
    let rois = f32_input(inputs, 1, "roi_align rois")?;
    let batch: Vec<i64> = match input(inputs, 2)?.to_i64_vec() {
        Some(b) => b,
        None => bail!("roi_align batch indices must be integers"),
    };
    let &[n, c, h, w] = x.shape() else {
        bail!("roi_align needs [N, C, H, W] data, got {:?}", x.shape());
    };
    let r = batch.len();
    if rois.shape() != [r, 4] {
        bail!("roi_align needs rois [{r}, 4], got {:?}", rois.shape());
    }
    let [oh, ow] = a.output_size;
    let mut out = vec![0f32; r * c * oh * ow];
    if h == 0 || w == 0 || out.is_empty() {
        return Ok(Tensor::F32(
            ArrayD::from_shape_vec(IxDyn(&[r, c, oh, ow]), out).expect("size"),
        ));
    }
    let x = x.as_standard_layout();
    let rois = rois.as_standard_layout();
    let (Some(xv), Some(rv)) = (x.as_slice(), rois.as_slice()) else {
        bail!("roi_align operands are not contiguous");
    };
    let offset = if a.half_pixel { 0.5 } else { 0.0 };
    let scale = a.spatial_scale as f64;
    for (roi, &b) in batch.iter().enumerate() {
        let Some(b) = usize::try_from(b).ok().filter(|&b| b < n) else {
            bail!("roi_align batch index {b} is out of range for {n} images");
        };
        let corner = |k: usize| rv[roi * 4 + k] as f64 * scale - offset;
        let (x1, y1, x2, y2) = (corner(0), corner(1), corner(2), corner(3));
        let (mut rw, mut rh) = (x2 - x1, y2 - y1);
        if !a.half_pixel {
            (rw, rh) = (rw.max(1.0), rh.max(1.0));
        }
        let (bh, bw) = (rh / oh as f64, rw / ow as f64);
        let grid = |size: f64| match a.sampling_ratio {
            0 => size.ceil().clamp(0.0, 1024.0) as usize,
            s => s,
        };
        let (gh, gw) = (grid(bh), grid(bw));
        let bytes = std::mem::size_of::<Sample>();
        crate::limits::shape_elements(&[oh, ow, gh, gw], bytes, "the roi_align samples")?;
        let count = (gh * gw).max(1) as f64;
        // The samples of every bin, shared by the channels.
        let mut samples: Vec<Sample> = Vec::with_capacity(oh * ow * gh * gw);
        for ph in 0..oh {
            for pw in 0..ow {
                for iy in 0..gh {
                    let y = y1 + ph as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                    for ix in 0..gw {
                        let xx = x1 + pw as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                        samples.push(sample(h, w, y, xx));
                    }
                }
            }
        }
        for ch in 0..c {
            let plane = &xv[(b * c + ch) * h * w..(b * c + ch + 1) * h * w];
            let dst = &mut out[(roi * c + ch) * oh * ow..(roi * c + ch + 1) * oh * ow];
            for (bin, v) in dst.iter_mut().enumerate() {
                let taps = samples[bin * gh * gw..(bin + 1) * gh * gw].iter();
                let weighted = taps.map(|s| s.map(|(p, wt)| wt * plane[p] as f64));
                *v = match a.kind {
                    PoolKind::Avg => {
                        (weighted.map(|t| t.iter().sum::<f64>()).sum::<f64>() / count) as f32
                    }
                    PoolKind::Max => weighted
                        .map(|t| t.into_iter().fold(f64::NEG_INFINITY, f64::max))
                        .reduce(f64::max)
                        .unwrap_or(0.0) as f32,
                };
            }
        }
    }
    Ok(Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(&[r, c, oh, ow]), out).expect("one value per bin"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use ndarray::array;

    #[test]
    fn averages_a_region_of_a_ramp() {
        let x = f32t(
            &[1, 1, 4, 4],
            &(0..16).map(|v| v as f32).collect::<Vec<_>>(),
        );
        let rois = f32t(&[1, 4], &[0.0, 0.0, 2.0, 2.0]);
        let b = Tensor::I64(array![0i64].into_dyn());
        let a = RoiAlignAttrs {
            kind: PoolKind::Avg,
            output_size: [1, 1],
            sampling_ratio: 1,
            spatial_scale: 1.0,
            half_pixel: false,
        };
        let y = roi_align(&a, &[op(&x), op(&rois), op(&b)]).unwrap();
        // One sample at (1, 1): pixel 5.
        assert_eq!(
            y.as_f32().unwrap().iter().copied().collect::<Vec<_>>(),
            [5.0]
        );
        let bad = Tensor::I64(array![1i64].into_dyn());
        assert!(roi_align(&a, &[op(&x), op(&rois), op(&bad)]).is_err());
    }
}
