//! Expand and Tile.

use super::super::attrs::NodeCtx;
use super::super::Importer;
use super::opt_const_ints;
use nnopt_compiler::ir::{Op, ValueRef};
use nnopt_compiler::Result;

/// Expand to the broadcast of the input shape and the constant `shape` input.
pub(super) fn expand(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let shape = opt_const_ints(imp, cx, 1, "shape")?
        .ok_or_else(|| cx.err("input 1 (shape) is required"))?;
    let shape = cx.usizes("shape", &shape)?;
    imp.emit(Op::Expand { shape }, &[cx.input(0)?], cx.out(0))
}

/// Tile by the constant `repeats`: each axis `d` becomes `[r, d]` through an expand of
/// the input reshaped to `[1, d0, 1, d1, ...]`, then folds back to `[r0 * d0, ...]`.
pub(super) fn tile(imp: &mut Importer, cx: &NodeCtx) -> Result<ValueRef> {
    let x = cx.input(0)?;
    let dims = imp.shape(x);
    let repeats = opt_const_ints(imp, cx, 1, "repeats")?
        .ok_or_else(|| cx.err("input 1 (repeats) is required"))?;
    let repeats = cx.usizes("repeats", &repeats)?;
    if repeats.len() != dims.len() {
        return Err(cx.err(format!(
            "{} repeats for a rank-{} input",
            repeats.len(),
            dims.len()
        )));
    }
    let out = cx.out(0);
    let spread: Vec<usize> = dims.iter().flat_map(|&d| [1, d]).collect();
    let pairs: Vec<usize> = dims
        .iter()
        .zip(&repeats)
        .flat_map(|(&d, &r)| [r, d])
        .collect();
    let tiled: Vec<usize> = dims.iter().zip(&repeats).map(|(&d, &r)| d * r).collect();
    let x = imp.reshape(x, spread, &format!("{out}_spread"))?;
    let x = imp.emit(Op::Expand { shape: pairs }, &[x], &format!("{out}_pairs"))?;
    imp.reshape(x, tiled, out)
}
