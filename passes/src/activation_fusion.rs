//! Fuses standalone clamp activations into the op that produces their input.

use nnopt_compiler::ir::{Activation, Graph, NodeIndex, Op, ValueRef};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;

/// Rewrites `relu(conv(x))` into `conv(x)` with a fused `relu`, likewise for relu6,
/// relu_n1_to_1 and clip, and for conv, transposed conv, gemm, binary ops and pooling
/// without a fused activation, when the producer's output feeds only the activation.
/// These are the activations that integer kernels apply as a clamp (TFLite fuses them
/// the same way).
pub struct ActivationFusion;

impl ActivationFusion {
    pub const NAME: &'static str = "activation-fusion";
}

/// The fused-activation slot of `op`, when it has one and it is empty.
fn free_slot(op: &mut Op) -> Option<&mut Option<Activation>> {
    op.activation_slot().filter(|slot| slot.is_none())
}

fn fusible(g: &Graph, act_node: NodeIndex) -> Option<(Activation, ValueRef)> {
    let Op::Activation { act } = g.node(act_node).op else {
        return None;
    };
    act.clamp_range()?;
    let x = *g.node_inputs(act_node).first()?;
    let producer = g.node(x.node);
    let mut op = producer.op.clone();
    let single_use = g.use_count(x) == 1 && producer.outputs.len() == 1;
    let same_type = producer.outputs[0].ty == g.node(act_node).outputs[0].ty;
    (single_use && same_type && free_slot(&mut op).is_some()).then_some((act, x))
}

impl Pass for ActivationFusion {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for n in g.topo_order().unwrap_or_else(|_| g.node_indices()) {
            let Some((act, x)) = fusible(g, n) else {
                continue;
            };
            if let Some(slot) = free_slot(&mut g.node_mut(x.node).op) {
                *slot = Some(act);
            }
            // The producer takes over the activation's output name and uses.
            let name = g.node(n).outputs[0].name.clone();
            g.replace_all_uses(ValueRef::first(n), x);
            g.remove_node(n);
            g.node_mut(x.node).outputs[0].name = name;
            changed = true;
        }
        Ok(changed)
    }
}
