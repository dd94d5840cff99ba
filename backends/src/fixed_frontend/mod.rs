//! The `fixed-frontend` hardware backend (FixyNN): an int8 convolutional front-end with
//! every weight hard-wired as a constant multiplier, emitted as synthesizable Verilog.
//!
//! `layers.rs` reads the quantized front-end graph into layers with the interpreter's
//! exact integer constants, `csd.rs` recodes constants in signed digits, `requant.rs`
//! shortens each requantization multiplier to the digits that matter, `verilog.rs`
//! writes the layer, top and testbench modules, `stream.rs` converts tensors to and from
//! the pixel stream, and `ppa.rs` prices area, power and energy with DeepFreeze's
//! analytic model.

mod csd;
mod layers;
pub mod ppa;
mod requant;
mod stream;
mod verilog;

pub use csd::{csd, Digit};
pub use layers::{FixedFrontend, FixedLayer, InputStage};
pub use stream::{from_pixels, output_pixels, to_pixels};
pub use verilog::{generate, testbench, TOP};
