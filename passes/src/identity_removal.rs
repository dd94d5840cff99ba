//! Removes identity nodes.

use nnopt_compiler::ir::{Graph, Op, ValueRef};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;

/// Bypasses every `identity` node (ONNX Identity and inference-mode Dropout import as
/// identity). When the identity feeds a graph output, its producer takes over the output's
/// name so that the model's interface is unchanged.
pub struct IdentityRemoval;

impl IdentityRemoval {
    pub const NAME: &'static str = "identity-removal";
}

impl Pass for IdentityRemoval {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for n in g.topo_order().unwrap_or_else(|_| g.node_indices()) {
            if !matches!(g.node(n).op, Op::Identity) {
                continue;
            }
            let out = ValueRef::first(n);
            let src = g.node_inputs(n)[0];
            let out_is_graph_output = g.outputs().contains(&out);
            let src_is_interface = g.outputs().contains(&src) || g.inputs().contains(&src.node);
            if out_is_graph_output && src_is_interface {
                continue;
            }
            if out_is_graph_output {
                let name = g.node(n).outputs[0].name.clone();
                g.node_mut(n).outputs[0].name = format!("{name}.removed");
                g.node_mut(src.node).outputs[src.output].name = name;
            }
            g.replace_all_uses(out, src);
            g.remove_node(n);
            changed = true;
        }
        Ok(changed)
    }
}
