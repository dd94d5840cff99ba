//! ResNet-like networks: a stem, 2–4 stages of basic (two 3×3) or bottleneck (1×1, 3×3,
//! 1×1) residual blocks whose first block may halve the resolution (with a 1×1 projection
//! shortcut), then global pooling and a classifier.

use super::{pick, Net};
use nnopt_compiler::ir::{Activation, PoolKind, ValueRef};
use nnopt_compiler::Result;
use rand::rngs::Xoshiro256PlusPlus;
use rand::RngExt;

const RELU: Option<Activation> = Some(Activation::Relu);

pub fn build(net: &mut Net, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let size = pick(rng, &[32, 48, 64, 96, 128, 160, 224]);
    let base = pick(rng, &[8, 16, 24, 32, 48, 64]);
    let bottleneck = rng.random_bool(0.4);
    let x = net.input(&[1, size, size, 3]);
    let mut x = if size >= 96 {
        let x = net.conv(x, base, 7, 2, 1, RELU)?;
        net.pool(x, PoolKind::Max, 3, 2)?
    } else {
        net.conv(x, base, 3, 1, 1, RELU)?
    };
    let stages = rng.random_range(2..=4);
    for stage in 0..stages {
        let width = (base << stage).min(512);
        let blocks = rng.random_range(1..=3);
        for b in 0..blocks {
            let stride = if stage > 0 && b == 0 && net.shape(x)[1] >= 4 {
                2
            } else {
                1
            };
            x = if bottleneck {
                bottleneck_block(net, x, width, stride)?
            } else {
                basic_block(net, x, width, stride)?
            };
        }
    }
    let x = net.global_mean(x)?;
    let x = net.flatten(x)?;
    let classes = pick(rng, &[10, 100, 1000]);
    let x = net.dense(x, classes, None)?;
    net.softmax_output(x)
}

/// The shortcut: `x`, or a strided 1×1 projection when the shape changes.
fn shortcut(net: &mut Net, x: ValueRef, out: usize, stride: usize) -> Result<ValueRef> {
    if stride == 1 && net.channels(x) == out {
        Ok(x)
    } else {
        net.conv(x, out, 1, stride, 1, None)
    }
}

fn basic_block(net: &mut Net, x: ValueRef, width: usize, stride: usize) -> Result<ValueRef> {
    let y = net.conv(x, width, 3, stride, 1, RELU)?;
    let y = net.conv(y, width, 3, 1, 1, None)?;
    let s = shortcut(net, x, width, stride)?;
    net.add(y, s, RELU)
}

fn bottleneck_block(net: &mut Net, x: ValueRef, width: usize, stride: usize) -> Result<ValueRef> {
    let out = (width * 4).min(1024);
    let y = net.conv(x, width, 1, 1, 1, RELU)?;
    let y = net.conv(y, width, 3, stride, 1, RELU)?;
    let y = net.conv(y, out, 1, 1, 1, None)?;
    let s = shortcut(net, x, out, stride)?;
    net.add(y, s, RELU)
}
