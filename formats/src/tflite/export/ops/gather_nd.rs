//! GATHER_ND (no batch axes; constant negative indices are wrapped here, as TFLite does
//! not wrap them).

use crate::tflite::export::lower::Lowerer;
use crate::tflite::export::model::{EmptyOptions, Options};
use crate::tflite::schema as fb;
use nnopt_compiler::ir::{NodeIndex, Op, Tensor};
use nnopt_compiler::Result;

pub fn gather_nd(l: &mut Lowerer<'_>, n: NodeIndex) -> Result<()> {
    let Op::GatherNd { batch_dims } = l.g.node(n).op else {
        return Err(l.err("not a gather_nd"));
    };
    if batch_dims != 0 {
        return Err(l.err(format!(
            "TFLite's GATHER_ND has no batch axes (batch_dims {batch_dims})"
        )));
    }
    let ins = l.g.node_inputs(n);
    let x = l.logical(ins[0])?;
    let idx = match l.g.const_value(ins[1]).and_then(Tensor::to_i64_vec) {
        Some(v) => {
            let shape = l.ty(ins[1]).shape.clone();
            let dims = l.ty(ins[0]).shape.clone();
            let depth = shape.last().copied().unwrap_or(1).max(1);
            let wrapped: Vec<i32> = v
                .iter()
                .enumerate()
                .map(|(k, &i)| (if i < 0 { i + dims[k % depth] as i64 } else { i }) as i32)
                .collect();
            l.const_i32("indices", &wrapped, &shape)
        }
        None => l.logical(ins[1])?,
    };
    let out = l.define(n, 0, false);
    l.op(
        fb::BuiltinOperator::GATHER_ND,
        vec![x, idx],
        vec![out],
        Options::Empty(EmptyOptions::GatherNd),
    );
    Ok(())
}
