//! nnopt backends: the NPU and training.

mod container;
pub mod npu;
pub mod train;
