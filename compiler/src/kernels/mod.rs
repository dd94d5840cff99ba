//! Fast compute kernels shared by the interpreter and the virtual NPU, so that both run
//! the same instructions and agree bit for bit by construction.
//!
//! - [`mat_mul`], [`mat_mul_packed`]: f32 matrix products, AVX-512 or AVX2 where the CPU
//!   has them, in parallel tiles; the same bits on every kernel and thread count.
//! - [`int_gemm`]: packed i16/i32 matrix product with wrapping i32 accumulation (AVX2
//!   where the CPU has it).
//! - [`int_conv`]: integer convolution (im2col or depthwise) and fully connected layers on
//!   top of it, parallel over blocks of output pixels.
//! - [`Requantize`]: the int32-to-int8 output stage, eight channels at a time.
//! - [`nchw_to_nhwc`], [`nhwc_to_nchw`]: layout changes around the NHWC kernels.

mod float_gemm;
pub mod int_conv;
pub mod int_gemm;
mod layout;
mod requant;

pub use float_gemm::{dot, mat_mul, mat_mul_into, mat_mul_packed, PackedB};
pub use int_conv::{
    conv2d, conv2d_prepared, fully_connected, ConvShape, ConvWeights, PreparedWeights,
};
pub use layout::{nchw_to_nhwc, nhwc_to_nchw};
pub use requant::{multiply_by_quantized_multiplier_row, Requantize};
