//! Attribute structs of the op families that carry several attributes, with the helpers
//! their users share (pool geometry, the fully connected form of a Gemm).

use super::infer::Window1d;
use super::op::{Activation, Layout, PoolKind};
use crate::{bail, Result};
use serde::{Deserialize, Serialize};

/// Attributes shared by convolution-like ops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvAttrs {
    pub layout: Layout,
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub group: usize,
    pub activation: Option<Activation>,
}

impl ConvAttrs {
    /// The output size of a deformable convolution, after checking its shapes and groups.
    pub fn deform_output(
        &self,
        offset_groups: usize,
        x: &[usize],
        w: &[usize],
    ) -> Result<[usize; 2]> {
        let (&[_, ci, h, wd], &[o, cg, kh, kw]) = (x, w) else {
            bail!("deform_conv needs 4-D input and weights, got {x:?} and {w:?}");
        };
        if self.layout != Layout::Nchw
            || self.activation.is_some()
            || self.group == 0
            || offset_groups == 0
            || ci != cg * self.group
            || o % self.group != 0
            || ci % offset_groups != 0
            || self.strides.contains(&0)
            || self.dilations.contains(&0)
        {
            bail!(
                "deform_conv of {x:?} by {w:?} needs NCHW, {} groups and {offset_groups} \
                 offset groups dividing the channels, positive strides and dilations",
                self.group
            );
        }
        let size = |d: usize, k: usize, a: usize| {
            let span = self.dilations[a] * (k.max(1) - 1) + 1;
            (d + self.pads[a] + self.pads[a + 2])
                .checked_sub(span)
                .map(|room| room / self.strides[a] + 1)
        };
        match (size(h, kh, 0), size(wd, kw, 1)) {
            (Some(oh), Some(ow)) if kh > 0 && kw > 0 => Ok([oh, ow]),
            _ => bail!("deform_conv kernel {kh}x{kw} does not fit the padded input {x:?}"),
        }
    }
}

/// Attributes of [`Op::RoiAlign`](super::Op::RoiAlign).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiAlignAttrs {
    /// Average or maximum of a bin's samples.
    pub kind: PoolKind,
    /// `[height, width]` of the output per region.
    pub output_size: [usize; 2],
    /// Samples per bin side; 0: the bin's size rounded up.
    pub sampling_ratio: usize,
    /// The factor from region coordinates to input pixels.
    pub spatial_scale: f32,
    /// Pixel centres at half-integers (ONNX `half_pixel`; else `output_half_pixel`, which
    /// also grows regions smaller than a pixel to one).
    pub half_pixel: bool,
}

/// Attributes of [`Op::Pool`](super::Op::Pool) and [`Op::PoolGrad`](super::Op::PoolGrad):
/// a window over every spatial axis (all but batch and channel; `layout` says where the
/// channel axis is). `pads` lists the begin paddings of the spatial axes, then the end
/// paddings (2-D: `[top, left, bottom, right]`); `dilations` is empty when all are 1.
/// With `ceil_mode` the output size rounds up, and windows may run past the end padding
/// (those taps never count). Average pooling divides by the taps inside the input, or
/// with `count_include_pad` inside the padded input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolAttrs {
    pub kind: PoolKind,
    pub layout: Layout,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dilations: Vec<usize>,
    pub pads: Vec<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

/// A 2-D pooling window without dilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolWindow2d {
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

impl PoolAttrs {
    /// Whether any spatial axis has a dilation other than 1.
    pub fn is_dilated(&self) -> bool {
        self.dilations.iter().any(|&d| d != 1)
    }

    /// Whether average pooling divides by the taps inside the padded input.
    pub fn averages_padding(&self) -> bool {
        self.kind == PoolKind::Avg && self.count_include_pad
    }

    /// The window of a 2-D pool without dilation (what TFLite-style kernels run), else
    /// `None`.
    pub fn window_2d(&self) -> Option<PoolWindow2d> {
        match (&self.kernel[..], &self.strides[..], &self.pads[..]) {
            (&[kh, kw], &[sh, sw], &[t, l, b, r]) if !self.is_dilated() => Some(PoolWindow2d {
                kernel: [kh, kw],
                strides: [sh, sw],
                pads: [t, l, b, r],
            }),
            _ => None,
        }
    }

    /// The per-axis windows, checked for consistent attribute lengths.
    pub fn windows(&self) -> Result<Vec<Window1d>> {
        let (kernel, strides, dilations, pads) =
            (&self.kernel, &self.strides, &self.dilations, &self.pads);
        let nd = kernel.len();
        if strides.len() != nd
            || pads.len() != 2 * nd
            || !(dilations.is_empty() || dilations.len() == nd)
        {
            bail!(
                "pool needs one kernel size, stride, dilation and two pads per spatial axis \
                 (kernel {kernel:?}, strides {strides:?}, dilations {dilations:?}, pads {pads:?})"
            );
        }
        Ok((0..nd)
            .map(|i| Window1d {
                kernel: kernel[i],
                stride: strides[i],
                dilation: dilations.get(i).copied().unwrap_or(1),
                pad_begin: pads[i],
                pad_end: pads[nd + i],
            })
            .collect())
    }

    /// The pooled shape of an input of shape `input`.
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let axes = self.windows()?;
        if input.len() != axes.len() + 2 {
            bail!(
                "pool input {input:?} needs rank {} for a {}-D window",
                axes.len() + 2,
                axes.len()
            );
        }
        let mut shape = input.to_vec();
        for (w, a) in axes.iter().zip(self.layout.spatial_axes_of(input.len())) {
            shape[a] = w.out_size(input[a], self.ceil_mode)?;
        }
        Ok(shape)
    }
}

/// Attributes of [`Op::Gemm`](super::Op::Gemm): `alpha * op(a) @ op(b) + beta * c`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GemmAttrs {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
    pub activation: Option<Activation>,
}

impl GemmAttrs {
    /// A fully connected layer `a @ op(b) + c` (alpha = beta = 1, A not transposed).
    pub fn fully_connected(trans_b: bool, activation: Option<Activation>) -> Self {
        GemmAttrs {
            alpha: 1.0,
            beta: 1.0,
            trans_a: false,
            trans_b,
            activation,
        }
    }

    /// Whether the Gemm is a fully connected layer: alpha = beta = 1 and A not transposed.
    pub fn is_fully_connected(&self) -> bool {
        self.alpha == 1.0 && self.beta == 1.0 && !self.trans_a
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{Activation, Layout, Op, PoolKind};

    /// The JSON (and so text) form of ops with attribute structs is the flat one the
    /// struct-less variants had; parsing it back gives the same op.
    #[test]
    fn attribute_structs_serialize_flat() {
        let cases = [
            r#"{"op":"pool","kind":"max","layout":"nchw","kernel":[2,2],"strides":[1,1],"dilations":[2,2],"pads":[0,1,0,1],"ceil_mode":true,"count_include_pad":false,"activation":"relu"}"#,
            r#"{"op":"pool_grad","kind":"avg","layout":"nhwc","kernel":[2,2],"strides":[2,2],"pads":[0,0,0,0],"count_include_pad":true}"#,
            r#"{"op":"gemm","alpha":0.5,"beta":1.0,"trans_a":true,"trans_b":false,"activation":null}"#,
        ];
        for json in cases {
            let op: Op = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&op).unwrap(), json);
        }
        let Op::Pool { pool, activation } = serde_json::from_str(cases[0]).unwrap() else {
            panic!("not a pool");
        };
        assert_eq!(activation, Some(Activation::Relu));
        assert!(pool.is_dilated() && pool.ceil_mode && pool.window_2d().is_none());
        assert_eq!(pool.output_shape(&[1, 3, 6, 6]).unwrap(), [1, 3, 4, 6]);
        let Op::PoolGrad(grad) = serde_json::from_str(cases[1]).unwrap() else {
            panic!("not a pool gradient");
        };
        assert_eq!((grad.kind, grad.layout), (PoolKind::Avg, Layout::Nhwc));
        assert!(grad.averages_padding() && grad.window_2d().is_some());
    }
}
