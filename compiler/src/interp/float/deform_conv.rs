//! DeformConv: a 2-D NCHW convolution whose taps are moved by per-position offsets and
//! read by bilinear interpolation (zero outside the input), optionally scaled by a mask.

use super::util::{arity, f32_input};
use crate::interp::Operand;
use crate::ir::{ConvAttrs, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// The bilinear value of the `h x w` plane at `(y, x)`; taps outside count as zero.
fn bilinear(plane: &[f32], h: usize, w: usize, y: f32, x: f32) -> f32 {
    let (fy, fx) = (y.floor(), x.floor());
    let (ty, tx) = (y - fy, x - fx);
    let at = |r: f32, c: f32| {
        if r >= 0.0 && c >= 0.0 && (r as usize) < h && (c as usize) < w {
            plane[r as usize * w + c as usize]
        } else {
            0.0
        }
    };
    (1.0 - ty) * ((1.0 - tx) * at(fy, fx) + tx * at(fy, fx + 1.0))
        + ty * ((1.0 - tx) * at(fy + 1.0, fx) + tx * at(fy + 1.0, fx + 1.0))
}

/// DeformConv of `x` `[N, C, H, W]` with weights `[O, C / group, kh, kw]`, offsets
/// `[N, offset_groups * kh * kw * 2, oh, ow]` ((dy, dx) per tap), bias `[O]` and an
/// optional mask `[N, offset_groups * kh * kw, oh, ow]`.
pub(super) fn deform_conv(
    c: &ConvAttrs,
    offset_groups: usize,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 4, 5)?;
    let x = f32_input(inputs, 0, "deform_conv input")?.as_standard_layout();
    let wt = f32_input(inputs, 1, "deform_conv weights")?.as_standard_layout();
    let off = f32_input(inputs, 2, "deform_conv offsets")?.as_standard_layout();
    let bias = f32_input(inputs, 3, "deform_conv bias")?;
    let mask = match inputs.get(4) {
        Some(_) => Some(f32_input(inputs, 4, "deform_conv mask")?.as_standard_layout()),
        None => None,
    };
    let (&[n, ci, h, w], &[o, cg, kh, kw]) = (x.shape(), wt.shape()) else {
        bail!("deform_conv needs 4-D input and weights");
    };
    let [oh, ow] = c.deform_output(offset_groups, &[n, ci, h, w], &[o, cg, kh, kw])?;
    let taps = kh * kw;
    let og = offset_groups;
    if off.shape() != [n, og * taps * 2, oh, ow]
        || mask
            .as_ref()
            .is_some_and(|m| m.shape() != [n, og * taps, oh, ow])
        || bias.len() != o
    {
        bail!("deform_conv offsets, mask or bias do not match the output [{n}, {o}, {oh}, {ow}]");
    }
    let (Some(xv), Some(wv), Some(ov)) = (x.as_slice(), wt.as_slice(), off.as_slice()) else {
        bail!("deform_conv operands are not contiguous");
    };
    let mv = mask.as_ref().and_then(|m| m.as_slice());
    let bias: Vec<f32> = bias.iter().copied().collect();
    let (og_channels, outs_per_group) = (ci / og, o / c.group);
    let positions = oh * ow;
    let mut out = vec![0f32; n * o * positions];
    // The sampled input of one image: [C, taps, positions].
    crate::limits::shape_elements(&[ci, taps, positions], 4, "the deform_conv taps")?;
    let mut cols = vec![0f32; ci * taps * positions];
    for b in 0..n {
        for ch in 0..ci {
            let plane = &xv[(b * ci + ch) * h * w..(b * ci + ch + 1) * h * w];
            let g = ch / og_channels;
            for t in 0..taps {
                let (i, j) = (t / kw, t % kw);
                let dy = &ov[((b * og + g) * taps * 2 + 2 * t) * positions..][..positions];
                let dx = &ov[((b * og + g) * taps * 2 + 2 * t + 1) * positions..][..positions];
                for p in 0..positions {
                    let (y, xx) = (p / ow, p % ow);
                    let sy = (y * c.strides[0] + i * c.dilations[0]) as f32 - c.pads[0] as f32;
                    let sx = (xx * c.strides[1] + j * c.dilations[1]) as f32 - c.pads[1] as f32;
                    let mut v = bilinear(plane, h, w, sy + dy[p], sx + dx[p]);
                    if let Some(m) = mv {
                        v *= m[((b * og + g) * taps + t) * positions + p];
                    }
                    cols[(ch * taps + t) * positions + p] = v;
                }
            }
        }
        for oc in 0..o {
            let g = oc / outs_per_group;
            let dst = &mut out[(b * o + oc) * positions..(b * o + oc + 1) * positions];
            dst.fill(bias[oc]);
            for k in 0..cg * taps {
                let wk = wv[oc * cg * taps + k];
                let src = &cols[(g * cg * taps + k) * positions..][..positions];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += wk * s;
                }
            }
        }
    }
    Ok(Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(&[n, o, oh, ow]), out).expect("one value per output"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};
    use crate::ir::Layout;

    #[test]
    fn zero_offsets_are_a_convolution_and_offsets_interpolate() {
        let attrs = ConvAttrs {
            layout: Layout::Nchw,
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            group: 1,
            activation: None,
        };
        let x = f32t(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let w = f32t(&[1, 1, 1, 1], &[2.0]);
        let b = f32t(&[1], &[0.5]);
        let zero = f32t(&[1, 2, 2, 2], &[0.0; 8]);
        let y = deform_conv(&attrs, 1, &[op(&x), op(&w), op(&zero), op(&b)]).unwrap();
        assert_eq!(
            y.as_f32().unwrap().as_slice().unwrap(),
            [2.5, 4.5, 6.5, 8.5]
        );
        // Half a pixel right: the last column reads half of a zero.
        let mut half = [0.0; 8];
        half[4..].fill(0.5);
        let half = f32t(&[1, 2, 2, 2], &half);
        let y = deform_conv(&attrs, 1, &[op(&x), op(&w), op(&half), op(&b)]).unwrap();
        assert_eq!(
            y.as_f32().unwrap().as_slice().unwrap(),
            [3.5, 2.5, 7.5, 4.5]
        );
    }
}
