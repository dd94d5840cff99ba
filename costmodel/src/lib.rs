//! nnopt's learned cost model (PerfSAGE-style): the search spaces that random networks
//! are sampled from ([`space`]), for datasets labelled by Vela, LiteRT and nnopt's own
//! NPU estimate.

pub mod batch;
pub mod cost;
pub mod device;
pub mod encode;
pub mod features;
pub mod predictor;
pub mod sage;
pub mod space;
pub mod train;

pub use features::{features, GraphFeatures};
pub use space::{sample, Space};

/// Keeps candle's matrix products on the calling thread. The predictor's matrices are
/// small: splitting them over threads costs more than it saves (a prediction took 2-3x
/// longer), and the numbers are the same either way. It sets the `gemm` crate's
/// process-wide threading threshold, which only candle uses in nnopt.
pub fn single_threaded_products() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| gemm::set_threading_threshold(usize::MAX));
}
