//! Matrix products in the form the NPU's fully connected command runs, and constant
//! scalings of a conv's or gemm's input folded into its weights (f32).

use super::per_channel;
use crate::egraph::rule::{Ctx, Expr, Root, Rule};
use egg::Id;
use ndarray::Axis;
use nnopt_compiler::ir::{BinaryKind, GemmAttrs, Layout, Op, Tensor};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![Arc::new(MatMulToGemm), Arc::new(InputScaleIntoWeights)]
}

/// `mat_mul(a, w) -> gemm(a, w)` for a 2-D `a` and a constant 2-D `w` (a bias added later
/// folds into the gemm by `shift-into-bias`).
struct MatMulToGemm;

impl Rule for MatMulToGemm {
    fn name(&self) -> &'static str {
        "matmul-to-gemm"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::MatMul))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        cx.ops(id)
            .filter(|(op, ch)| {
                matches!(op, Op::MatMul)
                    && cx.is_f32(id)
                    && cx.ty(ch[0]).shape.len() == 2
                    && cx.ty(ch[1]).shape.len() == 2
                    && cx.constant(ch[1]).is_some()
            })
            .map(|(_, ch)| {
                let gemm = Op::Gemm(GemmAttrs::fully_connected(false, None));
                Expr::Op(gemm, vec![Expr::Class(ch[0]), Expr::Class(ch[1])])
            })
            .collect()
    }
}

/// `conv(x * c, w, b) -> conv(x, w·c, b)` for a constant `c` per input channel (group 1;
/// zero padding commutes with the scaling), and `gemm(a * c, w) -> gemm(a, w·c)` for a
/// constant per column of `a`.
struct InputScaleIntoWeights;

impl Rule for InputScaleIntoWeights {
    fn name(&self) -> &'static str {
        "input-scale-into-weights"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(
            n,
            Root::Op(Op::Conv(_) | Op::Gemm(GemmAttrs { trans_a: false, .. }))
        )
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        if !cx.is_f32(id) {
            return vec![];
        }
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            // (channel axis of the input, input-channel axis of the weights)
            let (x_axis, w_axis) = match op {
                Op::Conv(c) if c.group == 1 => match c.layout {
                    Layout::Nchw => (1, 1),
                    Layout::Nhwc => (3, 3),
                },
                Op::Gemm(g) if !g.trans_a => (1, if g.trans_b { 1 } else { 0 }),
                _ => continue,
            };
            let Some(Tensor::F32(w)) = cx.constant(ch[1]).filter(|_| cx.is_f32(ch[1])) else {
                continue;
            };
            for (inner, ich) in cx.ops(ch[0]) {
                let is_mul = matches!(
                    inner,
                    Op::Binary {
                        kind: BinaryKind::Mul,
                        activation: None
                    }
                );
                if !is_mul || cx.ty(ich[0]) != cx.ty(ch[0]) {
                    continue;
                }
                let Some(s) = per_channel(cx, ich[1], cx.ty(ch[0]), x_axis) else {
                    continue;
                };
                if w.shape().get(w_axis) != Some(&s.len()) {
                    continue;
                }
                let mut w = w.clone();
                for (k, mut lane) in w.axis_iter_mut(Axis(w_axis)).enumerate() {
                    lane.mapv_inplace(|v| v * s[k]);
                }
                let mut args: Vec<Expr> = ch.iter().map(|&c| Expr::Class(c)).collect();
                args[0] = Expr::Class(ich[0]);
                args[1] = Expr::Const(Tensor::F32(w));
                out.push(Expr::Op(op.clone(), args));
            }
        }
        out
    }
}
