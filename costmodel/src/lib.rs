//! nnopt's learned cost model (PerfSAGE-style): the search spaces that random networks
//! are sampled from ([`space`]), for datasets labelled by Vela, LiteRT and nnopt's own
//! NPU estimate.

pub mod features;
pub mod space;

pub use features::{features, GraphFeatures};
pub use space::{sample, Space};
