//! Plain networks: convolution stacks with pooling (like LeNet and VGG-style small CNNs)
//! and multilayer perceptrons.

use super::{pick, Net};
use nnopt_compiler::ir::{Activation, PoolKind};
use nnopt_compiler::Result;
use rand::rngs::Xoshiro256PlusPlus;
use rand::RngExt;

const RELU: Option<Activation> = Some(Activation::Relu);

pub fn build(net: &mut Net, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    if rng.random_bool(0.5) {
        cnn(net, rng)
    } else {
        mlp(net, rng)
    }
}

fn cnn(net: &mut Net, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let size = pick(rng, &[28, 32, 48, 64, 96, 128]);
    let channels = pick(rng, &[1, 3]);
    let mut width = pick(rng, &[8, 16, 32, 64]);
    let mut x = net.input(&[1, size, size, channels]);
    for _ in 0..rng.random_range(2..=5) {
        let kernel = pick(rng, &[3, 5]);
        x = net.conv(x, width, kernel, 1, 1, RELU)?;
        if rng.random_bool(0.4) {
            x = net.conv(x, width, 3, 1, 1, RELU)?;
        }
        if net.shape(x)[1] >= 4 {
            let kind = pick(rng, &[PoolKind::Max, PoolKind::Avg]);
            x = net.pool(x, kind, 2, 2)?;
        }
        width = (width * 2).min(256);
    }
    let x = if rng.random_bool(0.5) {
        net.global_mean(x)?
    } else {
        x
    };
    let mut x = net.flatten(x)?;
    for _ in 0..rng.random_range(0..=2) {
        let units = pick(rng, &[64, 128, 256]);
        x = net.dense(x, units, RELU)?;
    }
    let classes = pick(rng, &[10, 100]);
    let x = net.dense(x, classes, None)?;
    net.softmax_output(x)
}

fn mlp(net: &mut Net, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let inputs = pick(rng, &[64, 128, 256, 512, 784, 1024]);
    let mut x = net.input(&[1, inputs]);
    for _ in 0..rng.random_range(1..=4) {
        let units = pick(rng, &[32, 64, 128, 256, 512, 1024]);
        x = net.dense(x, units, RELU)?;
    }
    let classes = pick(rng, &[2, 10, 100]);
    let x = net.dense(x, classes, None)?;
    net.softmax_output(x)
}
