//! Algebraic identities on f32 tensors: identity ops, neutral elements, constants moved
//! to the right of commutative ops, subtraction and division by constants as addition
//! and multiplication, and consecutive constant scalings and shifts combined.

use crate::egraph::rule::{Ctx, Expr, Root, Rule};
use egg::Id;
use nnopt_compiler::ir::{BinaryKind, Op, Tensor};
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![
        Arc::new(IdentityOp),
        Arc::new(NeutralElement),
        Arc::new(ConstToRight),
        Arc::new(SubDivByConst),
        Arc::new(CombineConsts),
        Arc::new(DistributeScale),
    ]
}

fn binary(kind: BinaryKind) -> Op {
    Op::Binary {
        kind,
        activation: None,
    }
}

/// Whether `n` is a binary op without a fused activation.
fn plain_binary(n: Root<'_>) -> bool {
    matches!(
        n,
        Root::Op(Op::Binary {
            activation: None,
            ..
        })
    )
}

/// The plain (no fused activation) binary op of kind `kind`'s e-nodes in class `id`.
fn binaries<'a>(cx: &'a Ctx<'a>, id: Id) -> impl Iterator<Item = (BinaryKind, Id, Id)> + 'a {
    cx.ops(id).filter_map(|(op, ch)| match op {
        Op::Binary {
            kind,
            activation: None,
        } => Some((*kind, ch[0], ch[1])),
        _ => None,
    })
}

/// `identity(x) -> x`, and `cast(x)` to x's own type, a pad by zero everywhere and a
/// slice of the whole tensor `-> x`.
struct IdentityOp;

impl Rule for IdentityOp {
    fn name(&self) -> &'static str {
        "identity-op"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(
            n,
            Root::Op(Op::Identity | Op::Cast { .. } | Op::Pad { .. } | Op::Slice { .. })
        )
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        cx.ops(id)
            .filter(|(op, ch)| match op {
                Op::Identity => true,
                Op::Cast { .. } => cx.ty(ch[0]) == cx.ty(id),
                Op::Pad { pads, .. } => pads.iter().all(|&p| p == (0, 0)),
                Op::Slice { steps, .. } => {
                    steps.iter().all(|&s| s == 1) && cx.ty(ch[0]) == cx.ty(id)
                }
                _ => false,
            })
            .map(|(_, ch)| Expr::Class(ch[0]))
            .collect()
    }
}

/// `x * 1`, `1 * x`, `x + 0`, `0 + x`, `x - 0`, `x / 1` `-> x` (when the constant does not
/// broadcast x to a larger shape).
struct NeutralElement;

impl Rule for NeutralElement {
    fn name(&self) -> &'static str {
        "neutral-element"
    }
    fn root(&self, n: Root<'_>) -> bool {
        plain_binary(n)
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let mut out = vec![];
        for (kind, a, b) in binaries(cx, id) {
            if !cx.is_f32(id) {
                continue;
            }
            let (one, zero) = (|c| cx.is_splat(c, 1.0), |c| cx.is_splat(c, 0.0));
            let keep = match kind {
                BinaryKind::Mul if one(b) => Some(a),
                BinaryKind::Mul if one(a) => Some(b),
                BinaryKind::Add if zero(b) => Some(a),
                BinaryKind::Add if zero(a) => Some(b),
                BinaryKind::Sub if zero(b) => Some(a),
                BinaryKind::Div if one(b) => Some(a),
                _ => None,
            };
            if let Some(x) = keep.filter(|&x| cx.ty(x) == cx.ty(id)) {
                out.push(Expr::Class(x));
            }
        }
        out
    }
}

/// `c op x -> x op c` for commutative `op` and constant `c`, so that the other rules
/// only look for constants on the right.
struct ConstToRight;

impl Rule for ConstToRight {
    fn name(&self) -> &'static str {
        "const-to-right"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Binary { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        cx.ops(id)
            .filter_map(|(op, ch)| match op {
                Op::Binary { kind, .. }
                    if matches!(
                        kind,
                        BinaryKind::Add | BinaryKind::Mul | BinaryKind::Max | BinaryKind::Min
                    ) && cx.constant(ch[0]).is_some()
                        && cx.constant(ch[1]).is_none() =>
                {
                    Some(Expr::Typed(
                        op.clone(),
                        vec![Expr::Class(ch[1]), Expr::Class(ch[0])],
                        cx.eg[id].data.types.clone(),
                    ))
                }
                _ => None,
            })
            .collect()
    }
}

/// `x - c -> x + (-c)` and `x / c -> x * (1/c)` for f32 constants `c` (the reciprocal
/// rounds once; results stay within a few ulp).
struct SubDivByConst;

impl Rule for SubDivByConst {
    fn name(&self) -> &'static str {
        "sub-div-by-const"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(
            n,
            Root::Op(Op::Binary {
                kind: BinaryKind::Sub | BinaryKind::Div,
                activation: None,
            })
        )
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let mut out = vec![];
        for (kind, a, b) in binaries(cx, id) {
            let Some(Tensor::F32(c)) = cx.constant(b).filter(|_| cx.is_f32(b)) else {
                continue;
            };
            let (new_kind, c) = match kind {
                BinaryKind::Sub => (BinaryKind::Add, c.mapv(|v| -v)),
                BinaryKind::Div if c.iter().all(|&v| v != 0.0) => {
                    (BinaryKind::Mul, c.mapv(|v| 1.0 / v))
                }
                _ => continue,
            };
            out.push(Expr::Op(
                binary(new_kind),
                vec![Expr::Class(a), Expr::Const(Tensor::F32(c))],
            ));
        }
        out
    }
}

/// `(x op c1) op c2 -> x op (c1 op c2)` for `op` in add, mul, max, min and constants
/// `c1`, `c2` (the constant part folds).
struct CombineConsts;

impl Rule for CombineConsts {
    fn name(&self) -> &'static str {
        "combine-consts"
    }
    fn root(&self, n: Root<'_>) -> bool {
        plain_binary(n)
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let mut out = vec![];
        for (kind, inner, c2) in binaries(cx, id) {
            let associative = matches!(
                kind,
                BinaryKind::Add | BinaryKind::Mul | BinaryKind::Max | BinaryKind::Min
            );
            if !associative || !cx.is_f32(id) || cx.constant(c2).is_none() {
                continue;
            }
            for (k, x, c1) in binaries(cx, inner) {
                if k == kind && cx.constant(c1).is_some() && cx.constant(x).is_none() {
                    let c = Expr::Op(binary(kind), vec![Expr::Class(c1), Expr::Class(c2)]);
                    out.push(Expr::Op(binary(kind), vec![Expr::Class(x), c]));
                }
            }
        }
        out
    }
}

/// `(x + c1) * c2 -> x * c2 + c1 * c2` for constants: puts scalings before shifts, the
/// order in which both fold into a preceding convolution.
struct DistributeScale;

impl Rule for DistributeScale {
    fn name(&self) -> &'static str {
        "distribute-scale"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(
            n,
            Root::Op(Op::Binary {
                kind: BinaryKind::Mul,
                activation: None
            })
        )
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let mut out = vec![];
        for (kind, inner, c2) in binaries(cx, id) {
            if kind != BinaryKind::Mul || !cx.is_f32(id) || cx.constant(c2).is_none() {
                continue;
            }
            for (k, x, c1) in binaries(cx, inner) {
                if k == BinaryKind::Add && cx.constant(c1).is_some() && cx.constant(x).is_none() {
                    let scaled = Expr::Op(binary(kind), vec![Expr::Class(x), Expr::Class(c2)]);
                    let shift = Expr::Op(binary(kind), vec![Expr::Class(c1), Expr::Class(c2)]);
                    out.push(Expr::Op(binary(BinaryKind::Add), vec![scaled, shift]));
                }
            }
        }
        out
    }
}
