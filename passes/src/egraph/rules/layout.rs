//! Layout rules: transpose pairs composed (and dropped when they cancel), reshape
//! chains collapsed, and transposes moved through elementwise ops so that pairs meet.

use crate::egraph::rule::{Ctx, Expr, Root, Rule};
use egg::Id;
use ndarray::{ArrayD, IxDyn};
use nnopt_compiler::ir::{Op, Tensor};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![
        Arc::new(TransposePair),
        Arc::new(TransposeToReshape),
        Arc::new(ReshapeChain),
        Arc::new(TransposeThroughUnary),
        Arc::new(TransposeThroughBinary),
        Arc::new(TransposeThroughPad),
    ]
}

fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

/// The transposes in class `id`: (perm, input).
fn transposes<'a>(cx: &'a Ctx<'a>, id: Id) -> impl Iterator<Item = (&'a [usize], Id)> + 'a {
    cx.ops(id).filter_map(|(op, ch)| match op {
        Op::Transpose { perm } => Some((&perm[..], ch[0])),
        _ => None,
    })
}

/// `transpose(p2, transpose(p1, x)) -> transpose(p1∘p2, x)`, and a transpose by the
/// identity permutation `-> x`.
struct TransposePair;

impl Rule for TransposePair {
    fn name(&self) -> &'static str {
        "transpose-pair"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Transpose { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let types = cx.eg[id].data.types.clone();
        let mut out = vec![];
        for (p2, inner) in transposes(cx, id) {
            if is_identity(p2) {
                out.push(Expr::Class(inner));
                continue;
            }
            for (p1, x) in transposes(cx, inner) {
                // out[i] = inner[p2[i]] = x[p1[p2[i]]]
                let perm: Vec<usize> = p2.iter().map(|&i| p1[i]).collect();
                out.push(if is_identity(&perm) {
                    Expr::Class(x)
                } else {
                    Expr::Typed(Op::Transpose { perm }, vec![Expr::Class(x)], types.clone())
                });
            }
        }
        out
    }
}

/// A transpose that keeps the order of the axes longer than 1 moves no data:
/// `-> reshape(x)` (free in a tensor arena).
struct TransposeToReshape;

impl Rule for TransposeToReshape {
    fn name(&self) -> &'static str {
        "transpose-to-reshape"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Transpose { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let types = cx.eg[id].data.types.clone();
        let mut out = vec![];
        for (perm, x) in transposes(cx, id) {
            let shape = &cx.ty(x).shape;
            let moved: Vec<usize> = perm.iter().copied().filter(|&a| shape[a] != 1).collect();
            let per_tensor = cx.ty(x).quant.as_ref().is_none_or(|q| q.axis.is_none());
            if moved.windows(2).all(|w| w[0] < w[1]) && per_tensor {
                let op = Op::Reshape {
                    shape: types[0].shape.clone(),
                };
                out.push(Expr::Typed(op, vec![Expr::Class(x)], types.clone()));
            }
        }
        out
    }
}

/// `reshape(s2, reshape(s1, x)) -> reshape(s2, x)`, and a reshape to x's own shape
/// `-> x`.
struct ReshapeChain;

impl Rule for ReshapeChain {
    fn name(&self) -> &'static str {
        "reshape-chain"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Reshape { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let types = cx.eg[id].data.types.clone();
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let Op::Reshape { .. } = op else { continue };
            let x = ch[0];
            if cx.ty(x) == cx.ty(id) {
                out.push(Expr::Class(x));
            }
            for (inner, ch2) in cx.ops(x) {
                if let Op::Reshape { .. } = inner {
                    if cx.ty(ch2[0]) == cx.ty(id) {
                        out.push(Expr::Class(ch2[0]));
                    } else if cx.ty(ch2[0]).quant == cx.ty(id).quant {
                        out.push(Expr::Typed(
                            op.clone(),
                            vec![Expr::Class(ch2[0])],
                            types.clone(),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// `act(transpose(p, x)) <-> transpose(p, act(x))` for elementwise activations on f32.
struct TransposeThroughUnary;

impl Rule for TransposeThroughUnary {
    fn name(&self) -> &'static str {
        "transpose-through-unary"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Activation { .. } | Op::Transpose { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        if !cx.is_f32(id) {
            return vec![];
        }
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            match op {
                Op::Activation { .. } => {
                    for (perm, x) in transposes(cx, ch[0]) {
                        let act = Expr::unary(op.clone(), Expr::Class(x));
                        out.push(Expr::unary(
                            Op::Transpose {
                                perm: perm.to_vec(),
                            },
                            act,
                        ));
                    }
                }
                Op::Transpose { .. } => {
                    for (inner, ch2) in cx.ops(ch[0]) {
                        if let Op::Activation { .. } = inner {
                            let t = Expr::unary(op.clone(), Expr::Class(ch2[0]));
                            out.push(Expr::unary(inner.clone(), t));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// `binary(transpose(p, x), transpose(p, y)) -> transpose(p, binary(x, y))`, and
/// `binary(transpose(p, x), c) -> transpose(p, binary(x, c'))` for a constant `c` with
/// `c'` its inverse transpose (likewise for prelu and its slope), on f32.
struct TransposeThroughBinary;

impl Rule for TransposeThroughBinary {
    fn name(&self) -> &'static str {
        "transpose-through-binary"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Binary { .. } | Op::PRelu))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        if !cx.is_f32(id) {
            return vec![];
        }
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let (Op::Binary { .. } | Op::PRelu) = op else {
                continue;
            };
            let (a, b) = (ch[0], ch[1]);
            for (perm, x) in transposes(cx, a) {
                let rank = perm.len();
                let rhs = if let Some(c) = inverse_transposed(cx, b, perm) {
                    Expr::Const(c)
                } else if let Some(y) = transposes(cx, b)
                    .find(|(p, y)| *p == perm && cx.ty(*y).shape.len() == rank)
                    .map(|(_, y)| y)
                {
                    Expr::Class(y)
                } else {
                    continue;
                };
                let inner = Expr::Op(op.clone(), vec![Expr::Class(x), rhs]);
                out.push(Expr::unary(
                    Op::Transpose {
                        perm: perm.to_vec(),
                    },
                    inner,
                ));
            }
        }
        out
    }
}

/// `pad(transpose(p, x)) -> transpose(p, pad'(x))` with the pads moved to x's axes.
struct TransposeThroughPad;

impl Rule for TransposeThroughPad {
    fn name(&self) -> &'static str {
        "transpose-through-pad"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Pad { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        if !cx.is_f32(id) {
            return vec![];
        }
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let Op::Pad { pads, mode, value } = op else {
                continue;
            };
            for (perm, x) in transposes(cx, ch[0]) {
                if perm.len() != pads.len() {
                    continue;
                }
                // Output axis i of the transpose is axis perm[i] of x.
                let mut moved = vec![(0, 0); pads.len()];
                for (i, &p) in perm.iter().enumerate() {
                    moved[p] = pads[i];
                }
                let pad = Op::Pad {
                    pads: moved,
                    mode: *mode,
                    value: *value,
                };
                let t = Op::Transpose {
                    perm: perm.to_vec(),
                };
                out.push(Expr::unary(t, Expr::unary(pad, Expr::Class(x))));
            }
        }
        out
    }
}

/// Constant class `c`, broadcast to `perm`'s rank and transposed by its inverse, so that
/// `transpose(perm, c') == c` under broadcasting.
fn inverse_transposed(cx: &Ctx<'_>, c: Id, perm: &[usize]) -> Option<Tensor> {
    let values = cx.f32_values(c)?;
    let shape = &cx.ty(c).shape;
    let rank = perm.len();
    if shape.len() > rank {
        return None;
    }
    let mut full = vec![1; rank - shape.len()];
    full.extend_from_slice(shape);
    let a = ArrayD::from_shape_vec(IxDyn(&full), values).ok()?;
    // transpose(perm, c')[i] = c'[perm[i]] must be c[i]: c' = transpose(inverse(perm), c).
    let mut inv = vec![0; rank];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let t = a.permuted_axes(IxDyn(&inv));
    Some(Tensor::F32(t.as_standard_layout().into_owned()))
}
