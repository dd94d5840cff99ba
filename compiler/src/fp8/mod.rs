//! FP8 numbers: the E4M3 ("fn": no infinities, max ±448) and E5M2 (IEEE-like, max ±57344)
//! formats, exact conversions from and to f32, fast slice conversions and scale selection.
//!
//! One implementation serves FP8 inference (the `quantize-fp8` pass, the interpreter, the
//! NPU), FP8 training and FP8 messages in federated learning.
//!
//! ```
//! use nnopt_compiler::fp8::{F8E4M3, F8E5M2, Saturation};
//! assert_eq!(F8E4M3::from_f32(1.0).to_bits(), 0x38);
//! assert_eq!(F8E4M3::from_f32(1e6).to_f32().is_nan(), true); // overflow without saturation
//! assert_eq!(F8E4M3::from_f32_with(1e6, Saturation::Saturate).to_f32(), 448.0);
//! assert_eq!(F8E5M2::from_f32(1e6).to_f32(), f32::INFINITY);
//! ```

mod dot;
mod format;
mod scale;
mod slice;
mod types;

pub use dot::Fp8Dot;
pub use format::{Fp8Format, Saturation};
pub use scale::{channel_scales, tensor_scale, AmaxHistory, ScaleMethod};
pub use slice::{decode_into, encode_into, encode_stochastic_into};
pub use types::{F8E4M3, F8E5M2};
