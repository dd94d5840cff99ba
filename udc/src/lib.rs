//! nnopt-udc: UDC-style compression (Fedorov et al., NeurIPS 2022). A search over each
//! layer's weight bit-width ([`grid::BITS`]) and unstructured sparsity, trained on
//! nnopt's runtime, that meets a budget of encoded weight bytes (what the NPU binary
//! stores: weights, biases and requantization records).
//!
//! Three stages ([`search`]): a warm-up of the float model; the search, where each
//! layer's weights are a Gumbel-softmax mixture of their fake-quantized grids under a
//! learnable magnitude threshold ([`relax`]), with a differentiable size proxy held to
//! the budget; and quantization-aware fine-tuning of the chosen plan. [`budget`] then
//! guarantees the budget on the real codec. [`baselines`] are the usual alternatives
//! at the same budget. [`compress`] runs it all; [`UdcSearch`] is the same as a pass.

pub mod baselines;
pub mod budget;
pub mod compress;
pub mod grid;
pub mod layers;
mod pass;
pub mod plan;
mod progress;
pub mod relax;
pub mod search;
pub mod size;
pub mod trainer;

pub use layers::{layers, Layer};
pub use pass::{SharedOracle, UdcSearch};
pub use plan::Plan;
pub use progress::Progress;
pub use search::{Context, Outcome, SearchOptions};
pub use size::{Encoded, Quantizer, SizeOracle};
