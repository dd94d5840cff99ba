//! nnopt-compiler: the IR, the ONNX and TFLite importers, the reference interpreter and
//! the pass manager.

pub mod analysis;
pub mod container;
pub mod cost;
mod error;
pub mod fp8;
pub mod import;
pub mod interp;
pub mod ir;
pub mod pass;

pub use error::{Error, Result};
