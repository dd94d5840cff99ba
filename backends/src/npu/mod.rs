//! The NPU backend: targets, lowering, the binary format and the virtual NPU.

pub mod target;
pub mod compress;
