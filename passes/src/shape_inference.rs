//! Recomputes output types from op semantics, keeping quantization parameters.

use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;

/// Recomputes every node's output shapes and dtypes in topological order.
pub struct ShapeInference;

impl ShapeInference {
    pub const NAME: &'static str = "shape-inference";
}

impl Pass for ShapeInference {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let order = g
            .topo_order()
            .map_err(|n| nnopt_compiler::Error::at_node(&g.node(n).name, "graph has a cycle"))?;
        let mut changed = false;
        for n in order {
            if g.node(n).op.is_source() {
                continue;
            }
            let ins = g.node_inputs(n);
            let tys: Vec<_> = ins.iter().map(|&v| g.ty(v)).collect();
            let node = g.node(n);
            let inferred = infer_types(&node.op, &tys).map_err(|e| e.in_node(&node.name))?;
            let keep_dtype = node.op.declares_output_dtype();
            let node = g.node_mut(n);
            for (v, t) in node.outputs.iter_mut().zip(inferred) {
                if v.ty.shape != t.shape {
                    v.ty.shape = t.shape;
                    changed = true;
                }
                if v.ty.dtype != t.dtype && !keep_dtype {
                    v.ty.dtype = t.dtype;
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}
