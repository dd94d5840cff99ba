//! DS-CNN keyword-spotting-like networks (Zhang et al., "Hello Edge"): a spectrogram-shaped
//! input (time × frequency × 1), a strided convolution with a tall kernel, 2–6
//! depthwise-separable blocks, average pooling and a classifier over 12 keywords.

use super::{pick, Net};
use nnopt_compiler::ir::{Activation, PoolKind};
use nnopt_compiler::Result;
use rand::rngs::Xoshiro256PlusPlus;
use rand::RngExt;

const RELU: Option<Activation> = Some(Activation::Relu);

pub fn build(net: &mut Net, rng: &mut Xoshiro256PlusPlus) -> Result<()> {
    let frames = pick(rng, &[25, 32, 49, 62, 99]);
    let features = pick(rng, &[10, 13, 20, 40]);
    let width = pick(rng, &[32, 64, 96, 128, 172, 276]);
    let x = net.input(&[1, frames, features, 1]);
    let kernel = [pick(rng, &[3, 5, 10]), pick(rng, &[3, 4])];
    let mut x = net.conv2d(x, width, kernel, [2, 2], 1, RELU)?;
    for _ in 0..rng.random_range(2..=6) {
        let k = pick(rng, &[3, 5]);
        x = net.depthwise(x, k, 1, RELU)?;
        x = net.conv(x, width, 1, 1, 1, RELU)?;
    }
    // Average pooling where Vela runs it on the NPU (strides up to 3 with SAME
    // padding), else the mean over the plane.
    let s = net.shape(x);
    let window = s[1].min(s[2]);
    let x = if window <= 3 && rng.random_bool(0.5) {
        net.pool(x, PoolKind::Avg, window, window)?
    } else {
        net.global_mean(x)?
    };
    let x = net.flatten(x)?;
    let x = net.dense(x, 12, None)?;
    net.softmax_output(x)
}
