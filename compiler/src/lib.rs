//! nnopt-compiler: the IR, the op set, the reference interpreter and the pass manager.

pub mod analysis;
pub mod container;
pub mod cost;
mod error;
mod flatbuffers_module;
pub mod fp8;
pub mod interp;
pub mod ir;
pub mod pass;

pub use error::{Error, Result};
