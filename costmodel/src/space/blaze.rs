//! BlazeFace / BlazePose-like networks (MediaPipe's detectors, landmark and segmentation
//! models): a strided stem with PReLU, then BlazeBlocks (a 3×3 or 5×5 depthwise
//! convolution and a 1×1 projection, optionally twice, with a residual whose channels are
//! zero-padded when the block widens and max-pooled when it strides), then one of three
//! heads: a detector (1×1 heads on two scales, reshaped and concatenated), a landmark
//! regressor (global pooling and dense layers) or a segmentation decoder (nearest ×2
//! upsampling with skip additions). Inputs are 1 or 3 channels, square or not, 64²–256².

use super::{pick, Net};
use nnopt_compiler::ir::{PoolKind, ValueRef};
use nnopt_compiler::Result;
use rand::rngs::Xoshiro256PlusPlus;
use rand::RngExt;

pub fn build(net: &mut Net, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let height = pick(rng, &[64, 96, 128, 160, 192, 256]);
    let width = if rng.random_bool(0.3) {
        pick(rng, &[64, 96, 128, 160])
    } else {
        height
    };
    let channels = if rng.random_bool(0.2) { 1 } else { 3 };
    let kernel = pick(rng, &[3, 5]);
    let mut width_c = pick(rng, &[8, 16, 24, 32]);
    let x = net.input(&[1, height, width, channels]);
    let x = net.conv(x, width_c, kernel, 2, 1, None)?;
    let mut x = net.prelu(x)?;
    let stages = rng.random_range(2..=4);
    let mut skips = Vec::new();
    for stage in 0..stages {
        if stage > 0 {
            width_c = (width_c * 2).min(128);
        }
        let blocks = rng.random_range(1..=3);
        for b in 0..blocks {
            let stride = if b == 0 && stage > 0 && net.shape(x)[1] >= 8 {
                2
            } else {
                1
            };
            let double = rng.random_bool(0.3);
            x = blaze_block(net, x, width_c, kernel, stride, double)?;
        }
        skips.push(x);
    }
    match rng.random_range(0..3) {
        0 => detector_head(net, &skips, rng),
        1 => landmark_head(net, x, rng),
        _ => segmentation_head(net, &skips),
    }
}

/// Depthwise `kernel`×`kernel` (strided) then 1×1 to `out` (twice for a double block, the
/// first through a narrower bottleneck), plus the shortcut, then PReLU.
fn blaze_block(
    net: &mut Net,
    x: ValueRef,
    out: usize,
    kernel: usize,
    stride: usize,
    double: bool,
) -> Result<ValueRef> {
    let mut y = net.depthwise(x, kernel, stride, None)?;
    if double {
        y = net.conv(y, (out / 2).max(4), 1, 1, 1, None)?;
        y = net.prelu(y)?;
        y = net.depthwise(y, kernel, 1, None)?;
    }
    y = net.conv(y, out, 1, 1, 1, None)?;
    let mut s = x;
    if stride == 2 {
        s = net.pool(s, PoolKind::Max, 2, 2)?;
    }
    let cin = net.channels(s);
    if cin < out {
        s = net.pad_channels(s, out - cin)?;
    } else if cin > out {
        s = net.conv(s, out, 1, 1, 1, None)?;
    }
    let y = net.add(y, s, None)?;
    net.prelu(y)
}

/// Box and score heads on the last two scales, flattened per anchor and concatenated.
fn detector_head(net: &mut Net, skips: &[ValueRef], rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let anchors = pick(rng, &[2, 6]);
    let coords = pick(rng, &[4, 16]);
    let mut boxes = Vec::new();
    for &s in skips.iter().rev().take(2) {
        let shape = net.shape(s);
        let cells = shape[1] * shape[2] * anchors;
        let b = net.conv(s, anchors * coords, 1, 1, 1, None)?;
        boxes.push(net.reshape(b, &[1, cells, coords])?);
    }
    let out = net.concat(&boxes, 1)?;
    net.output(out);
    Ok(())
}

/// Global pooling and one or two dense layers to landmark coordinates.
fn landmark_head(net: &mut Net, x: ValueRef, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let x = net.global_mean(x)?;
    let mut x = net.flatten(x)?;
    if rng.random_bool(0.5) {
        x = net.dense(x, pick(rng, &[64, 128]), None)?;
        x = net.prelu(x)?;
    }
    let points = pick(rng, &[21, 33, 71, 468]);
    let out = net.dense(x, points * 3, None)?;
    net.output(out);
    Ok(())
}

/// Upsample the deepest features back through the earlier scales, adding each skip after
/// a 1×1 convolution to its width, then a 1-channel mask.
fn segmentation_head(net: &mut Net, skips: &[ValueRef]) -> Result<()> {
    let mut x = *skips.last().expect("at least two stages");
    for &s in skips.iter().rev().skip(1) {
        if net.shape(x)[1] * 2 != net.shape(s)[1] || net.shape(x)[2] * 2 != net.shape(s)[2] {
            continue;
        }
        let up = net.upsample2(x)?;
        let up = net.conv(up, net.channels(s), 1, 1, 1, None)?;
        x = net.add(up, s, None)?;
        x = net.prelu(x)?;
    }
    let mask = net.conv(x, 1, 3, 1, 1, None)?;
    net.output(mask);
    Ok(())
}
