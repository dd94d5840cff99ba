//! CPU fallback: runs a [`CpuSegment`]'s IR subgraph with the reference interpreter on
//! tensors read from the arena.

use super::arena::Arena;
use crate::npu::program::{CpuSegment, Program};
use nnopt_compiler::ir::text::parse_graph;
use nnopt_compiler::ir::Graph;
use nnopt_compiler::{Error, Result};

/// Parses every CPU segment's subgraph.
pub fn parse_segments(p: &Program) -> Result<Vec<Graph>> {
    p.cpu_segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parse_graph(&s.graph).map_err(|e| Error::new(format!("CPU segment {i}: {e}")))
        })
        .collect()
}

/// Runs segment `s` (parsed as `g`).
pub fn run_segment(p: &Program, s: &CpuSegment, g: &Graph, arena: &mut Arena) -> Result<()> {
    let desc = |t: usize| {
        p.tensors
            .get(t)
            .ok_or_else(|| Error::new(format!("CPU segment names missing tensor {t}")))
    };
    let inputs = s
        .inputs
        .iter()
        .map(|&t| arena.read(desc(t)?))
        .collect::<Result<Vec<_>>>()?;
    let outputs = nnopt_compiler::interp::run(g, &inputs)?;
    if outputs.len() != s.outputs.len() {
        return Err(Error::new(format!(
            "CPU segment produced {} outputs, {} expected",
            outputs.len(),
            s.outputs.len()
        )));
    }
    for (&t, v) in s.outputs.iter().zip(&outputs) {
        arena.write(desc(t)?, v)?;
    }
    Ok(())
}
