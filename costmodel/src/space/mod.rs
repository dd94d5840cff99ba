//! Search spaces of random networks, one file each: MobileNetV2/V3-like inverted residuals
//! ([`mobilenet`]), ResNet-like residual stages ([`resnet`]), DS-CNN keyword-spotting-like
//! networks ([`dscnn`]), plain CNNs and MLPs ([`plain`]) and MediaPipe-like BlazeBlock
//! networks ([`blaze`]). A network is a float NHWC
//! graph with random weights, the same for the same space and seed.

mod blaze;
mod builder;
mod dscnn;
mod mobilenet;
mod plain;
mod resnet;

pub use builder::Net;

use nnopt_compiler::ir::Graph;
use nnopt_compiler::{Error, Result};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A search space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// Inverted residual blocks (expansion, depthwise, projection) with optional
    /// squeeze-and-excitation and hard swish, like MobileNetV2 and V3.
    Mobilenet,
    /// Basic and bottleneck residual blocks in stages, like ResNet.
    Resnet,
    /// A convolution then depthwise-separable blocks over a spectrogram-shaped input, like
    /// the DS-CNN keyword-spotting networks.
    Dscnn,
    /// Plain convolution and pooling stacks, or multilayer perceptrons.
    Plain,
    /// BlazeBlocks with PReLU, channel padding, concatenated detector heads, landmark
    /// regressors or upsampling decoders, like MediaPipe's models.
    Blaze,
}

impl Space {
    /// Every space, in a fixed order.
    pub const ALL: [Space; 5] = [
        Space::Mobilenet,
        Space::Resnet,
        Space::Dscnn,
        Space::Plain,
        Space::Blaze,
    ];

    /// The space's name on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Space::Mobilenet => "mobilenet",
            Space::Resnet => "resnet",
            Space::Dscnn => "dscnn",
            Space::Plain => "plain",
            Space::Blaze => "blaze",
        }
    }
}

impl std::str::FromStr for Space {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Space::ALL
            .into_iter()
            .find(|space| space.name() == s)
            .ok_or_else(|| {
                Error::new(format!(
                    "unknown search space '{s}' (the spaces: {})",
                    Space::ALL.map(Space::name).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Network `seed` of `space`: a float graph named `SPACE_SEED`.
pub fn sample(space: Space, seed: u64) -> Result<Graph> {
    // Distinct streams per space, so that seed k of two spaces share nothing (new spaces go
    // last: a space's discriminant picks its stream).
    let stream = seed ^ (space as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(stream);
    let weights_seed = rng.random();
    let mut net = Net::new(&format!("{}_{seed}", space.name()), weights_seed);
    match space {
        Space::Mobilenet => mobilenet::build(&mut net, &mut rng)?,
        Space::Resnet => resnet::build(&mut net, &mut rng)?,
        Space::Dscnn => dscnn::build(&mut net, &mut rng)?,
        Space::Plain => plain::build(&mut net, &mut rng)?,
        Space::Blaze => blaze::build(&mut net, &mut rng)?,
    }
    net.finish()
}

/// One of `choices`, uniformly.
fn pick<T: Copy>(rng: &mut Xoshiro256PlusPlus, choices: &[T]) -> T {
    choices[rng.random_range(0..choices.len())]
}

/// A channel count: `base` times a width multiplier, rounded to a multiple of 8 (at least
/// 8), as MobileNets round theirs.
fn channels(base: usize, multiplier: f64) -> usize {
    (((base as f64 * multiplier) / 8.0).round() as usize).max(1) * 8
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnopt_compiler::ir::verify;

    #[test]
    fn every_space_samples_valid_deterministic_graphs() {
        for space in Space::ALL {
            for seed in 0..12 {
                let g = sample(space, seed).unwrap_or_else(|e| panic!("{space} {seed}: {e}"));
                verify(&g).unwrap_or_else(|e| panic!("{space} {seed}: {e}"));
                let again = sample(space, seed).unwrap();
                assert_eq!(
                    nnopt_compiler::ir::text::print_graph(&g, &Default::default()),
                    nnopt_compiler::ir::text::print_graph(&again, &Default::default()),
                    "{space} {seed} is not deterministic"
                );
            }
        }
    }

    #[test]
    fn seeds_give_different_networks() {
        let print = |s| {
            nnopt_compiler::ir::text::print_graph(
                &sample(Space::Mobilenet, s).unwrap(),
                &Default::default(),
            )
        };
        assert_ne!(print(1), print(2));
    }

    #[test]
    fn space_names_round_trip() {
        for space in Space::ALL {
            assert_eq!(space.name().parse::<Space>().unwrap(), space);
        }
        assert!("vgg".parse::<Space>().is_err());
    }
}
