//! `nnopt-rt`: runs nnopt's `.npub` NPU binaries in firmware, without an allocator.
//!
//! [`Model::load`] checks a binary completely (header, CRC-32, every table, index, size
//! and parameter), so an untrusted binary is an error, never a panic. [`Model::run`]
//! executes it in a caller-provided arena of [`Model::arena_size`] bytes with the virtual
//! NPU's integer arithmetic, bit-exactly with `nnopt run`.
//!
//! Integer programs, with their host-CPU commands (SVDF, float-table softmax): FP8
//! programs and programs with IR CPU-fallback segments are [`ErrorKind::Unsupported`].
#![no_std]

mod command;
mod container;
pub mod decode;
mod error;
pub mod fixedpoint;
mod flatbuf;
pub mod kernels;
mod model;
mod run;
mod schema;
mod scratch;
mod tensor;
mod weights;

pub use error::{Error, ErrorKind, Result};
pub use model::{Model, TensorInfo};
pub use schema::{DType, Shape, MAX_RANK};
