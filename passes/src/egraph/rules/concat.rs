//! Concat and split canonicalization: single-input concats dropped, nested concats on
//! one axis flattened, and split/concat pairs that undo each other removed.

use crate::egraph::rule::{Ctx, Expr, Root, Rule};
use egg::Id;
use nnopt_compiler::ir::Op;
use std::sync::Arc;

pub fn rules() -> Vec<Arc<dyn Rule>> {
    vec![
        Arc::new(ConcatSingle),
        Arc::new(ConcatFlatten),
        Arc::new(SplitThenConcat),
        Arc::new(ConcatThenSplit),
    ]
}

/// `concat(x) -> x`.
struct ConcatSingle;

impl Rule for ConcatSingle {
    fn name(&self) -> &'static str {
        "concat-single"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Concat { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        cx.ops(id)
            .filter(|(op, ch)| {
                matches!(op, Op::Concat { .. }) && ch.len() == 1 && cx.ty(ch[0]) == cx.ty(id)
            })
            .map(|(_, ch)| Expr::Class(ch[0]))
            .collect()
    }
}

/// `concat(a, concat(b, c), d) -> concat(a, b, c, d)` on the same axis (same types).
struct ConcatFlatten;

impl Rule for ConcatFlatten {
    fn name(&self) -> &'static str {
        "concat-flatten"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Concat { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let types = cx.eg[id].data.types.clone();
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let Op::Concat { axis } = op else { continue };
            for (i, &c) in ch.iter().enumerate() {
                let Some(inner) = cx.ops(c).find_map(|(o, ich)| match o {
                    Op::Concat { axis: a } if a == axis && cx.ty(c).quant == types[0].quant => {
                        Some(ich)
                    }
                    _ => None,
                }) else {
                    continue;
                };
                let args = ch[..i]
                    .iter()
                    .chain(inner)
                    .chain(&ch[i + 1..])
                    .map(|&c| Expr::Class(c))
                    .collect();
                out.push(Expr::Typed(op.clone(), args, types.clone()));
            }
        }
        out
    }
}

/// `concat(split(x)[0], ..., split(x)[n-1]) -> x` (same axis, every piece in order).
struct SplitThenConcat;

impl Rule for SplitThenConcat {
    fn name(&self) -> &'static str {
        "split-then-concat"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Op(Op::Concat { .. }))
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let mut out = vec![];
        for (op, ch) in cx.ops(id) {
            let Op::Concat { axis } = op else { continue };
            let Some((0, tuple)) = cx.outputs(ch[0]).next() else {
                continue;
            };
            for (split, sch) in cx.ops(tuple) {
                let Op::Split { axis: a, sizes } = split else {
                    continue;
                };
                let in_order = sizes.len() == ch.len()
                    && ch.iter().enumerate().all(|(k, &c)| {
                        cx.outputs(c)
                            .any(|(j, t)| j == k && cx.eg.find(t) == cx.eg.find(tuple))
                    });
                if a == axis && in_order && cx.ty(sch[0]) == cx.ty(id) {
                    out.push(Expr::Class(sch[0]));
                }
            }
        }
        out
    }
}

/// `split(concat(x0, .., xn))[k] -> xk` when the split sizes are the concat inputs' sizes
/// along the same axis.
struct ConcatThenSplit;

impl Rule for ConcatThenSplit {
    fn name(&self) -> &'static str {
        "concat-then-split"
    }
    fn root(&self, n: Root<'_>) -> bool {
        matches!(n, Root::Output)
    }
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr> {
        let mut out = vec![];
        for (k, tuple) in cx.outputs(id) {
            for (split, sch) in cx.ops(tuple) {
                let Op::Split { axis, sizes } = split else {
                    continue;
                };
                for (concat, cch) in cx.ops(sch[0]) {
                    let Op::Concat { axis: a } = concat else {
                        continue;
                    };
                    let matches = a == axis
                        && cch.len() == sizes.len()
                        && cch
                            .iter()
                            .zip(sizes)
                            .all(|(&c, &s)| cx.ty(c).shape.get(*axis) == Some(&s));
                    if matches && cx.ty(cch[k]) == cx.ty(id) {
                        out.push(Expr::Class(cch[k]));
                    }
                }
            }
        }
        out
    }
}
