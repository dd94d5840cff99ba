//! CUMSUM (TFLite has no cumulative product).

use crate::tflite::export::lower::Lowerer;
use crate::tflite::export::model::Options;
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{CumulativeKind, NodeIndex, Op};
use nnopt_compiler::Result;

pub fn cumulative(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::Cumulative {
        kind,
        axis,
        exclusive,
        reverse,
    } = l.g.node(n).op.clone()
    else {
        return Err(l.err("not a cumulative op"));
    };
    if kind != CumulativeKind::Sum {
        return Err(l.err("TFLite has no cumulative product operator"));
    }
    let x = l.logical(l.g.node_inputs(n)[0])?;
    let a = l.const_i32("axis", &[axis as i32], &[]);
    let out = l.define(n, 0, false);
    l.op(
        fb::BuiltinOperator::CUMSUM,
        vec![x, a],
        vec![out],
        Options::Cumsum { exclusive, reverse },
    );
    Ok(())
}
