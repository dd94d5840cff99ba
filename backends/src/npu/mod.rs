//! The NPU backend: lowering of quantized IR to an NPU [`Program`] (Vela-like stages:
//! [`lower`] schedules commands and precomputes requantization, [`alloc`] places
//! activations in one arena), and the virtual NPU ([`vnpu`]) that executes programs
//! bit-exactly with the reference interpreter.

pub mod alloc;
pub mod lower;
pub mod program;
pub mod report;
pub mod vnpu;

pub use lower::{lower, LowerOptions};
pub use program::*;
pub use report::{Fallback, LoweringReport};
