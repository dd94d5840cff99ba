//! The integer kernels of the NPU's commands, on arena bytes without allocation.

pub mod conv;
mod depthwise;
pub mod dot;
pub mod elementwise;
pub mod moves;
pub mod pool;
pub mod requantize;
pub mod resize;
pub mod softmax;
pub mod stage;
pub mod svdf;

/// Integer elements read by index.
pub trait Ints {
    fn at(&self, i: usize) -> i32;
}

impl Ints for [i32] {
    #[inline]
    fn at(&self, i: usize) -> i32 {
        self[i]
    }
}
