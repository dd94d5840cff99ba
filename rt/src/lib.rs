//! `nnopt-rt`: runs nnopt's `.npub` NPU binaries in firmware, without an allocator.
//!
//! [`Model::load`] checks a binary completely (header, CRC-32, every table, index, size
//! and parameter), so an untrusted binary is an error, never a panic. [`Model::run`]
//! executes it in a caller-provided arena of [`Model::arena_size`] bytes with the virtual
//! NPU's integer arithmetic, bit-exactly with `nnopt run`.
//!
//! Integer programs, with their host-CPU commands (SVDF, float-table softmax): FP8
//! programs and programs with IR CPU-fallback segments are [`ErrorKind::Unsupported`].
//!
//! ```
//! // A binary from `nnopt compile hello_world_int8.tflite` (format 1.2).
//! let binary = include_bytes!("../../tests/data/hello_world_int8_format_1_2.npub");
//! let model = nnopt_rt::Model::load(binary)?;
//! let mut arena = [0u8; 1024];
//! assert!(model.arena_size() <= arena.len());
//! let x = model.input(0).unwrap();
//! assert_eq!((x.dtype, x.shape.dims(), x.size), (nnopt_rt::DType::I8, &[1, 1][..], 1));
//! let mut y = [0u8; 1];
//! model.run(&mut arena, &[&[0u8]], &mut [&mut y])?;
//! // A damaged binary is an error, never a panic.
//! let mut bad = binary.to_vec();
//! bad[40] ^= 1;
//! assert!(nnopt_rt::Model::load(&bad).is_err());
//! # Ok::<(), nnopt_rt::Error>(())
//! ```
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
#[cfg(target_arch = "x86_64")]
mod simd;
mod tensor;
mod weights;

pub use error::{Error, ErrorKind, Result};
pub use model::{Model, TensorInfo};
pub use schema::{DType, Shape, MAX_RANK};

/// Turns the vector kernels off (portable code only, as on a CPU without them) or back on
/// where the CPU has them: for testing and measuring the portable kernels on a desktop.
/// The outputs are the same bits either way. Without vector kernels for the target, this
/// does nothing.
pub fn set_vector_kernels(enabled: bool) {
    #[cfg(target_arch = "x86_64")]
    simd::set_vector_kernels(enabled);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = enabled;
}
