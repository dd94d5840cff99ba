//! The NPU backend, as a line of Vela-like stages: [`lower`] schedules commands and
//! precomputes requantization (with [`tables`] for pointwise ops), [`alloc`] places activations in one arena, [`compress`]
//! encodes weights losslessly, [`binary`] writes and loads the `.npub` file, and the
//! virtual NPU ([`vnpu`]) executes programs bit-exactly with the reference interpreter.
//! [`target`] holds the NPU configurations and [`perf`] estimates cycles and energy on them;
//! [`cost`] prices IR ops with the same model for the e-graph optimizer's extraction.

pub mod alloc;
pub mod binary;
pub mod compress;
pub mod cost;
pub mod lower;
pub mod perf;
pub mod program;
pub mod report;
pub mod tables;
pub mod target;
pub mod vnpu;

pub use lower::{lower, LowerOptions};
pub use program::*;
pub use report::{Fallback, LoweringReport};
