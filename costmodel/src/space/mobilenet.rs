//! MobileNetV2/V3-like networks: a strided stem, stages of inverted residual blocks (1×1
//! expansion, k×k depthwise, optional squeeze-and-excitation, 1×1 projection, residual
//! when shapes allow), a 1×1 head and a classifier.

use super::{channels, pick, Net};
use nnopt_compiler::ir::{Activation, ValueRef};
use nnopt_compiler::Result;
use rand::rngs::Xoshiro256PlusPlus;
use rand::RngExt;

/// Stage output widths before the width multiplier, as in MobileNetV2.
const WIDTHS: [usize; 7] = [16, 24, 32, 64, 96, 160, 320];

pub fn build(net: &mut Net, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let size = pick(rng, &[32, 48, 64, 96, 128, 160, 192, 224]);
    let multiplier = pick(rng, &[0.35, 0.5, 0.75, 1.0, 1.25]);
    // V3-style networks use hard swish in their later layers and squeeze-and-excitation.
    let v3 = rng.random_bool(0.5);
    let late_act = if v3 {
        Activation::HardSwish
    } else {
        Activation::Relu6
    };
    let x = net.input(&[1, size, size, 3]);
    let mut x = net.conv(x, channels(16, multiplier), 3, 2, 1, Some(late_act))?;
    let stages = rng.random_range(4..=WIDTHS.len());
    for (stage, &width) in WIDTHS.iter().take(stages).enumerate() {
        let out = channels(width, multiplier);
        let repeats = rng.random_range(1..=4);
        let spatial = net.shape(x)[1];
        let stride = if stage > 0 && spatial >= 4 && rng.random_bool(0.6) {
            2
        } else {
            1
        };
        let kernel = pick(rng, &[3, 5, 7]);
        let expansion = pick(rng, &[1, 3, 4, 6]);
        let se = v3 && rng.random_bool(0.4);
        let act = if stage >= 2 {
            late_act
        } else {
            Activation::Relu6
        };
        for r in 0..repeats {
            let s = if r == 0 { stride } else { 1 };
            x = inverted_residual(net, x, out, expansion, kernel, s, se, act)?;
        }
    }
    let head = channels(if v3 { 960 } else { 1280 }, multiplier.max(1.0));
    let x = net.conv(x, head, 1, 1, 1, Some(late_act))?;
    let x = net.global_mean(x)?;
    let x = net.flatten(x)?;
    let classes = pick(rng, &[10, 100, 1000]);
    let x = net.dense(x, classes, None)?;
    net.softmax_output(x)
}

/// One inverted residual block.
#[allow(clippy::too_many_arguments)]
fn inverted_residual(
    net: &mut Net,
    x: ValueRef,
    out: usize,
    expansion: usize,
    kernel: usize,
    stride: usize,
    se: bool,
    act: Activation,
) -> Result<ValueRef> {
    let cin = net.channels(x);
    let mut y = x;
    if expansion > 1 {
        y = net.conv(y, cin * expansion, 1, 1, 1, Some(act))?;
    }
    y = net.depthwise(y, kernel, stride, Some(act))?;
    if se {
        y = squeeze_excite(net, y)?;
    }
    y = net.conv(y, out, 1, 1, 1, None)?;
    if stride == 1 && cin == out {
        y = net.add(y, x, None)?;
    }
    Ok(y)
}

/// Squeeze-and-excitation: channel weights from the global mean, a bottleneck of a
/// quarter of the channels, and a sigmoid gate.
fn squeeze_excite(net: &mut Net, x: ValueRef) -> Result<ValueRef> {
    let c = net.channels(x);
    let s = net.global_mean(x)?;
    let s = net.conv(s, (c / 4).max(8), 1, 1, 1, Some(Activation::Relu))?;
    let s = net.conv(s, c, 1, 1, 1, Some(Activation::Sigmoid))?;
    net.mul(x, s)
}
