//! The integer kernels of the NPU's commands, on arena bytes without allocation.

pub mod conv;
pub mod elementwise;
pub mod moves;
pub mod pool;
pub mod resize;
pub mod softmax;
