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
