//! Fresh starting values of trainable parameters.
//!
//! A weight's initialization depends on its layer: its fans (inputs and outputs per
//! output and input element, kernel included, per group for grouped and depthwise
//! convolutions) and the activation that follows it, whose gain keeps the variance of
//! the signal steady through the layer (He et al. 2015; `torch.nn.init.calculate_gain`).

use nnopt_compiler::ir::{Activation, DType, Graph, Layout, Op, Tensor, ValueRef};
use serde::{Deserialize, Serialize};

/// How fresh weights are drawn; biases always start at zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// He (Kaiming) uniform: `U(±gain·√(3/fan_in))`, the gain of the activation after the
    /// layer (√2 for the ReLU family, 1 for a layer without one, such as the logits).
    #[default]
    He,
    /// Glorot (Xavier) uniform: `U(±√(6/(fan_in + fan_out)))`, whatever follows.
    Glorot,
}

impl InitScheme {
    /// `he` or `glorot`.
    pub fn name(self) -> &'static str {
        match self {
            InitScheme::He => "he",
            InitScheme::Glorot => "glorot",
        }
    }
}

/// What a weight's initialization needs to know about its layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightFans {
    /// Values summed into one output: input channels per group times the kernel.
    pub fan_in: usize,
    /// Outputs one input value reaches: output channels per group times the kernel.
    pub fan_out: usize,
    /// Gain of the activation after the layer.
    pub gain: f64,
}

impl WeightFans {
    /// The fans of weight `v` (consumed by a conv, gemm or matmul as weights, directly or
    /// binarized) and the gain of what follows its layer; `None` for biases.
    pub fn of(g: &Graph, v: ValueRef) -> Option<Self> {
        let s = &g.ty(v).shape;
        g.consumers(super::through_binarize(g, v))
            .iter()
            .find_map(|&(n, slot)| {
                let (fan_in, fan_out) = match (&g.node(n).op, slot) {
                    (Op::Conv(c), 1) if s.len() == 4 => {
                        let groups = c.group.max(1);
                        let (o, i, kernel) = match c.layout {
                            Layout::Nchw => (s[0], s[1], s[2] * s[3]),
                            Layout::Nhwc => (s[0], s[3], s[1] * s[2]),
                        };
                        (i * kernel, o / groups * kernel)
                    }
                    // Gemm weights are [in, out], or [out, in] when transposed.
                    (Op::Gemm(a), 1) if s.len() == 2 => match a.trans_b {
                        false => (s[0], s[1]),
                        true => (s[1], s[0]),
                    },
                    (Op::MatMul, 1) if s.len() == 2 => (s[0], s[1]),
                    _ => return None,
                };
                Some(WeightFans {
                    fan_in: fan_in.max(1),
                    fan_out: fan_out.max(1),
                    gain: activation_after(g, n).map_or(1.0, gain),
                })
            })
    }
}

/// The activation applied to node `n`'s output: fused into it, or the one op that reads
/// it (directly, or after the bias add of a matmul).
fn activation_after(g: &Graph, n: nnopt_compiler::ir::NodeIndex) -> Option<Activation> {
    let node = g.node(n);
    if let Some(act) = node.op.clone().activation_slot().and_then(|slot| *slot) {
        return Some(act);
    }
    let out = ValueRef::first(n);
    match g.consumers(out).as_slice() {
        [(next, _)] => match &g.node(*next).op {
            Op::Activation { act } => Some(*act),
            Op::Binary { activation, .. } if matches!(node.op, Op::MatMul) => {
                activation.or_else(|| activation_after(g, *next))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The gain of `act` (as `torch.nn.init.calculate_gain`): √2 for ReLU-like clamps at
/// zero, √(2/(1+α²)) for a leaky ReLU, 5/3 for tanh, 1 otherwise.
fn gain(act: Activation) -> f64 {
    match act {
        Activation::LeakyRelu { alpha } => (2.0 / (1.0 + (alpha as f64).powi(2))).sqrt(),
        Activation::Tanh => 5.0 / 3.0,
        Activation::HardSwish => std::f64::consts::SQRT_2,
        a => match a.clamp_range() {
            Some((0.0, _)) => std::f64::consts::SQRT_2,
            _ => 1.0,
        },
    }
}

/// A fresh value of shape `shape`: weights (with `fans`) drawn by `scheme`, biases zero.
pub fn fresh_value(
    shape: &[usize],
    fans: Option<WeightFans>,
    scheme: InitScheme,
    rng: &mut impl rand::Rng,
) -> Tensor {
    let Some(f) = fans else {
        return Tensor::zeros(DType::F32, shape);
    };
    let limit = match scheme {
        InitScheme::He => f.gain * (3.0 / f.fan_in as f64).sqrt(),
        InitScheme::Glorot => (6.0 / (f.fan_in + f.fan_out) as f64).sqrt(),
    };
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (2.0 * u - 1.0) * limit
        })
        .collect();
    Tensor::from_f64s(DType::F32, shape, &v).expect("sized")
}
