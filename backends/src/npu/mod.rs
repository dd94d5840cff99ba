//! The NPU backend, as a line of Vela-like stages that [`compile`] runs in order:
//! [`supported`] checks which nodes the NPU can run, [`lower`] schedules commands and
//! precomputes requantization (with [`tables`] for pointwise ops), [`alloc`] places
//! activations in one arena, [`compress`] encodes weights losslessly, [`binary`] writes
//! and loads the `.npub` file, and [`perf`] estimates cycles and energy on a [`target`].
//! [`print`] renders a program as text, the virtual NPU ([`vnpu`]) executes programs
//! bit-exactly with the reference interpreter, and [`cost`] prices IR ops with the
//! performance model for the e-graph optimizer's extraction.

pub mod alloc;
pub mod binary;
pub mod compress;
pub mod cost;
pub mod lower;
pub mod perf;
pub mod print;
pub mod program;
pub mod report;
pub mod supported;
pub mod tables;
pub mod target;
pub mod vnpu;

pub use lower::{lower, LowerOptions};
pub use program::*;
pub use report::{Fallback, LoweringReport};

use compress::BlockStats;
use nnopt_compiler::ir::Graph;
use nnopt_compiler::Result;
use perf::{CommandWork, Estimate};
use target::Target;

/// What compiling a graph for the NPU produced.
#[derive(Clone, Debug)]
pub struct Compilation {
    pub program: Program,
    /// The `.npub` file.
    pub binary: Vec<u8>,
    /// NPU ops, CPU fallbacks and the arena size.
    pub lowering: LoweringReport,
    /// Each weight block's raw and compressed size.
    pub weights: Vec<BlockStats>,
    /// What each command does, independent of the target (the estimate's input).
    pub work: Vec<CommandWork>,
    pub estimate: Estimate,
}

/// Compiles an optimized, quantized graph for `target`, stage by stage.
pub fn compile(g: &Graph, target: &Target, opts: &LowerOptions) -> Result<Compilation> {
    supported::check_dtypes(g)?;
    let support = supported::check(g);
    let lower::Lowered {
        mut program,
        report: mut lowering,
        buffer_of,
    } = lower(g, &support, opts)?;
    let (arena_bytes, naive_bytes) = alloc::place(&mut program, &buffer_of);
    lowering.arena_bytes = arena_bytes;
    lowering.naive_bytes = naive_bytes;
    let weights = compress::compress_weights(&program)?;
    let binary = binary::write(&program, target, &weights.blocks)?;
    let encoded: Vec<u64> = weights
        .stats
        .iter()
        .map(|w| w.encoded_bytes as u64)
        .collect();
    let work = perf::program_work(&program, &encoded)?;
    let estimate = perf::price(&work, target, program.arena_size as u64);
    Ok(Compilation {
        program,
        binary,
        lowering,
        weights: weights.stats,
        work,
        estimate,
    })
}
