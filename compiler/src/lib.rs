//! nnopt-compiler: the IR, the op set, the reference interpreter, the pass manager and the
//! container header shared by nnopt's binary files.

pub mod analysis;
pub mod container;
pub mod cost;
mod error;
mod flatbuffers_module;
pub mod fp8;
pub mod interp;
pub mod ir;
pub mod kernels;
pub mod limits;
pub mod pass;

pub use error::{Error, Result};
