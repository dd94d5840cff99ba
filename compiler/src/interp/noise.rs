//! Monte-Carlo noise injection for binary networks: each output of a binary neuron (a
//! binarize activation on a computed value, not a binarized weight) flips sign with
//! probability ε.
//!
//! Whether a value flips is a hash of (seed, sample index, node index, position in the
//! sample), not a draw from a running generator, so a result does not depend on the
//! batch size, the order in which batches run or the thread count.

use crate::ir::{Graph, NodeIndex, Tensor};
use crate::{Error, Result};

/// Which binary neurons flip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BinaryNoise {
    /// Probability that one neuron's output flips, in [0, 1].
    pub flip_prob: f64,
    pub seed: u64,
    /// Sample index of the batch's first row (row `i` is sample `first_sample + i`).
    pub first_sample: u64,
}

/// Whether node `n` is a layer of noisy binary neurons: it binarizes (standalone or fused)
/// a computed value. Binarized constants (weights) are exact.
pub fn is_noisy_neuron(g: &Graph, n: NodeIndex) -> bool {
    g.node(n).op.binarizes()
        && g.node_inputs(n)
            .first()
            .is_some_and(|&x| g.const_value(x).is_none())
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) for one (seed, sample, node, position).
fn uniform(seed: u64, sample: u64, node: u64, position: u64) -> f64 {
    let mut h = mix(seed ^ 0x9e37_79b9_7f4a_7c15);
    for part in [sample, node, position] {
        h = mix(h ^ part.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl BinaryNoise {
    /// Flips the values of `t`, the output of node `node` (batch on axis 0), each with
    /// probability `flip_prob`. Values are negated (±1 binary outputs).
    pub fn apply(&self, node: NodeIndex, t: &mut Tensor) -> Result<()> {
        if self.flip_prob <= 0.0 {
            return Ok(());
        }
        let Tensor::F32(a) = t else {
            return Err(Error::new(format!(
                "noise injection flips f32 binary outputs, got {}",
                t.dtype()
            )));
        };
        let per_sample = a.shape().iter().skip(1).product::<usize>().max(1);
        let node = node.index() as u64;
        for (k, v) in a.iter_mut().enumerate() {
            let sample = self.first_sample + (k / per_sample) as u64;
            if uniform(self.seed, sample, node, (k % per_sample) as u64) < self.flip_prob {
                *v = -*v;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn ones(rows: usize, cols: usize) -> Tensor {
        Tensor::F32(ArrayD::from_elem(IxDyn(&[rows, cols]), 1.0))
    }

    fn flipped(t: &Tensor) -> Vec<bool> {
        let Tensor::F32(a) = t else { unreachable!() };
        a.iter().map(|&v| v < 0.0).collect()
    }

    #[test]
    fn flip_rate_is_the_probability() {
        let noise = BinaryNoise {
            flip_prob: 0.1,
            seed: 7,
            first_sample: 0,
        };
        let mut t = ones(1000, 200);
        noise.apply(NodeIndex::new(3), &mut t).expect("f32");
        let n = flipped(&t).iter().filter(|&&f| f).count() as f64;
        // 200 000 draws: standard deviation of the rate 0.00067.
        assert!(
            (n / 200_000.0 - 0.1).abs() < 0.003,
            "rate {}",
            n / 200_000.0
        );
    }

    #[test]
    fn flips_do_not_depend_on_batching() {
        let noise = |first_sample| BinaryNoise {
            flip_prob: 0.3,
            seed: 1,
            first_sample,
        };
        let mut whole = ones(10, 16);
        noise(0).apply(NodeIndex::new(0), &mut whole).expect("f32");
        let mut parts = Vec::new();
        for first in [0, 4] {
            let mut t = ones(if first == 0 { 4 } else { 6 }, 16);
            noise(first).apply(NodeIndex::new(0), &mut t).expect("f32");
            parts.extend(flipped(&t));
        }
        assert_eq!(flipped(&whole), parts);
        // Another seed or node flips others.
        let mut other = ones(10, 16);
        let reseeded = BinaryNoise {
            seed: 2,
            ..noise(0)
        };
        reseeded.apply(NodeIndex::new(0), &mut other).expect("f32");
        assert_ne!(flipped(&whole), flipped(&other));
    }

    #[test]
    fn zero_probability_changes_nothing() {
        let noise = BinaryNoise {
            flip_prob: 0.0,
            seed: 0,
            first_sample: 0,
        };
        let mut t = ones(4, 4);
        noise.apply(NodeIndex::new(0), &mut t).expect("f32");
        assert_eq!(t, ones(4, 4));
    }
}
