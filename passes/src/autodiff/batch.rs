//! Changing a graph's batch size.

use crate::ShapeInference;
use nnopt_compiler::ir::{verify, Graph, Op};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::{Error, Result};

/// The graph with batch size `n`: every input's leading dimension becomes `n`, static
/// reshapes whose leading dimension was the batch follow, and every type is inferred
/// again. All inputs must share one leading dimension.
pub fn with_batch(g: &Graph, n: usize) -> Result<Graph> {
    let batches: Vec<usize> = g
        .inputs()
        .iter()
        .map(|&i| g.node(i).outputs[0].ty.shape.first().copied().unwrap_or(0))
        .collect();
    let Some(&old) = batches.first() else {
        return Err(Error::new("the model has no input"));
    };
    if n == 0 || batches.iter().any(|&b| b != old || b == 0) {
        return Err(Error::new(format!(
            "cannot set batch {n}: the inputs' leading dimensions are {batches:?}"
        )));
    }
    let mut h = g.clone();
    for i in h.inputs().to_vec() {
        h.node_mut(i).outputs[0].ty.shape[0] = n;
    }
    for i in h.node_indices() {
        if let Op::Reshape { shape } = &mut h.node_mut(i).op {
            if shape.first() == Some(&old) {
                shape[0] = n;
            }
        }
    }
    ShapeInference
        .run(&mut h)
        .map_err(|e| Error::new(format!("batch {n}: {}", e.message)))?;
    verify(&h)?;
    Ok(h)
}
