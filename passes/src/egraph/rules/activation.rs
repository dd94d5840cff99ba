//! Clamp activations (relu, relu6, relu_n1_to_1, clip) fused into the op that produces
//! their input, and nested clamps merged. A fused activation on the residual `add` is
//! the conv + add form the NPU's elementwise command runs in one pass.

use super::clamp_activation;
use crate::egraph::rule::{Ctx, Expr, Root, Rule};
use egg::Id;
use nnopt_compiler::ir::{Activation, Op};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(FuseActivation)]
}

/// `clamp(op(..)) -> op{clamp}(..)` for ops with a fused-activation slot, and
/// `clamp2(clamp1(x))` or `clamp2(op{clamp1}(..))` with the clamps' intersection. Works
/// on quantized tensors too when the activation keeps the type (as TFLite fuses them).
struct FuseActivation;

impl Rule for FuseActivation {
    fn name(&self) -> &'static str {
        "fuse-activation"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Activation { act }) if act.clamp_range().is_some())
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let types = cx.eg[id].data.types.clone();
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let Op::Activation { act } = op else { continue };
            let Some((lo, hi)) = act.clamp_range() else {
                continue;
            };
            let x = ch[0];
            if cx.eg[x].data.types != types {
                continue;
            }
            for (inner, inner_ch) in cx.ops(x) {
                let mut fused = inner.clone();
                let new_act = match inner {
                    Op::Activation { act: a } => a.clamp_range().map(|r| intersect((lo, hi), r)),
                    _ => match fused.activation_slot() {
                        Some(None) => Some(*act),
                        Some(Some(a)) => a.clamp_range().map(|r| intersect((lo, hi), r)),
                        None => None,
                    },
                };
                let Some(new_act) = new_act else { continue };
                match &mut fused {
                    Op::Activation { act: a } => *a = new_act,
                    other => *other.activation_slot().expect("checked above") = Some(new_act),
                }
                let args = inner_ch.iter().map(|&c| Expr::Class(c)).collect();
                out.push(Expr::Typed(fused, args, types.clone()));
            }
        }
        out
    }
}

/// The activation clamping to the intersection of two ranges.
fn intersect(a: (f32, f32), b: (f32, f32)) -> Activation {
    clamp_activation(a.0.max(b.0), a.1.min(b.1))
}
