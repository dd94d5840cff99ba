//! Rewrite rules written in Rust: a rule looks at one e-class (read-only) and proposes
//! equivalent expressions; an adapter turns it into an egg [`egg::Rewrite`] that adds
//! them and unions them with the class when their types agree.

use super::analysis::{add_const, add_op, add_typed_op, EGraph};
use super::language::{OpId, TensorNode};
use egg::{Id, SearchMatches, Subst, Symbol};
use nnopt_compiler::ir::{DType, Op, Tensor, TensorType};
use nnopt_compiler::Result;
use std::sync::Arc;

/// An expression a rule proposes: existing classes, new constants and new ops.
#[derive(Clone, Debug)]
pub enum Expr {
    /// An existing e-class.
    Class(Id),
    /// A new constant (its type is the tensor's own, without quantization).
    Const(Tensor),
    /// A new op; its output types are inferred from its inputs.
    Op(Op, Vec<Expr>),
    /// A new op with explicit output types (for quantized results).
    Typed(Op, Vec<Expr>, Vec<TensorType>),
}

impl Expr {
    /// A new single-input op.
    pub fn unary(op: Op, x: Expr) -> Expr {
        Expr::Op(op, vec![x])
    }
}

/// Read-only view of the e-graph for rules.
pub struct Ctx<'a> {
    pub eg: &'a EGraph,
}

impl<'a> Ctx<'a> {
    /// The op e-nodes of class `id` with their input classes.
    pub fn ops(&self, id: Id) -> impl Iterator<Item = (&'a Op, &'a [Id])> + 'a {
        let eg = self.eg;
        eg[id].nodes.iter().filter_map(move |n| match n {
            TensorNode::Op(op, ch) => Some((&eg.analysis.op(*op).op, &ch[..])),
            _ => None,
        })
    }

    /// Like [`Ctx::ops`], with each op's interned id (to recognize an e-node again).
    pub fn ops_with_ids(&self, id: Id) -> impl Iterator<Item = (OpId, &'a Op, &'a [Id])> + 'a {
        let eg = self.eg;
        eg[id].nodes.iter().filter_map(move |n| match n {
            TensorNode::Op(op, ch) => Some((*op, &eg.analysis.op(*op).op, &ch[..])),
            _ => None,
        })
    }

    /// The (first) output type of class `id`.
    pub fn ty(&self, id: Id) -> &'a TensorType {
        &self.eg[id].data.types[0]
    }

    /// Whether class `id` is an unquantized f32 tensor.
    pub fn is_f32(&self, id: Id) -> bool {
        let t = self.ty(id);
        t.dtype == DType::F32 && t.quant.is_none()
    }

    /// The value of class `id` when it is a single constant.
    pub fn constant(&self, id: Id) -> Option<&'a Tensor> {
        match self.eg[id].data.constant.as_deref() {
            Some([c]) => Some(&self.eg.analysis.constant(*c).value),
            _ => None,
        }
    }

    /// The f32 values of class `id` when it is an unquantized f32 constant.
    pub fn f32_values(&self, id: Id) -> Option<Vec<f32>> {
        if !self.is_f32(id) {
            return None;
        }
        Some(self.constant(id)?.as_f32()?.iter().copied().collect())
    }

    /// Whether class `id` is an f32 constant whose every element equals `v`.
    pub fn is_splat(&self, id: Id, v: f32) -> bool {
        self.f32_values(id)
            .is_some_and(|xs| !xs.is_empty() && xs.iter().all(|&x| x == v))
    }

    /// The tuple class and output index of the `Output` e-nodes in class `id`.
    pub fn outputs(&self, id: Id) -> impl Iterator<Item = (usize, Id)> + 'a {
        self.eg[id].nodes.iter().filter_map(|n| match n {
            TensorNode::Output(k, [t]) => Some((*k as usize, *t)),
            _ => None,
        })
    }
}

/// What can be at the root of a rule's match.
#[derive(Clone, Copy, Debug)]
pub enum Root<'a> {
    Op(&'a Op),
    Output,
}

/// A rewrite rule.
pub trait Rule: Send + Sync {
    /// The rule's name (in statistics).
    fn name(&self) -> &'static str;
    /// A cheap filter: whether an e-node like this can be the root of a match.
    fn root(&self, node: Root<'_>) -> bool;
    /// Expressions equal to class `id`.
    fn rewrite(&self, cx: &Ctx<'_>, id: Id) -> Vec<Expr>;
}

/// Adds `e` to the e-graph; fails when an op's types cannot be inferred.
pub fn add_expr(eg: &mut EGraph, e: &Expr) -> Result<Id> {
    Ok(match e {
        Expr::Class(id) => *id,
        Expr::Const(t) => add_const(eg, t.clone(), t.tensor_type()),
        Expr::Op(op, args) => {
            let ch = args
                .iter()
                .map(|a| add_expr(eg, a))
                .collect::<Result<Vec<_>>>()?;
            add_op(eg, op.clone(), ch)?
        }
        Expr::Typed(op, args, types) => {
            let ch = args
                .iter()
                .map(|a| add_expr(eg, a))
                .collect::<Result<Vec<_>>>()?;
            add_typed_op(eg, op.clone(), ch, types.clone())
        }
    })
}

/// The type an expression would have, without adding it.
fn expr_types(eg: &EGraph, e: &Expr) -> Result<Vec<TensorType>> {
    Ok(match e {
        Expr::Class(id) => eg[*id].data.types.clone(),
        Expr::Const(t) => vec![t.tensor_type()],
        Expr::Op(op, args) => inferred_types(eg, op, args)?,
        Expr::Typed(op, args, types) => {
            let inferred = inferred_types(eg, op, args)?;
            let agree = inferred.len() == types.len()
                && inferred
                    .iter()
                    .zip(types)
                    .all(|(a, b)| a.dtype == b.dtype && a.shape == b.shape);
            if !agree {
                return Err(nnopt_compiler::Error::new(format!(
                    "{} does not produce the given types",
                    op.name()
                )));
            }
            types.clone()
        }
    })
}

/// The output types `op` infers from the types of `args`.
fn inferred_types(eg: &EGraph, op: &Op, args: &[Expr]) -> Result<Vec<TensorType>> {
    let tys = args
        .iter()
        .map(|a| Ok(expr_types(eg, a)?.swap_remove(0)))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&TensorType> = tys.iter().collect();
    nnopt_compiler::ir::infer::infer_types(op, &refs)
}

struct RuleSearcher(Arc<dyn Rule>);
struct RuleApplier(Arc<dyn Rule>);

impl egg::Searcher<TensorNode, super::analysis::TensorAnalysis> for RuleSearcher {
    fn search_eclass_with_limit(
        &self,
        eg: &EGraph,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, TensorNode>> {
        let hit = limit > 0
            && eg[eclass].nodes.iter().any(|n| match n {
                TensorNode::Op(op, _) => self.0.root(Root::Op(&eg.analysis.op(*op).op)),
                TensorNode::Output(..) => self.0.root(Root::Output),
                _ => false,
            });
        hit.then(|| SearchMatches {
            eclass,
            substs: vec![Subst::default()],
            ast: None,
        })
    }

    fn vars(&self) -> Vec<egg::Var> {
        vec![]
    }
}

impl egg::Applier<TensorNode, super::analysis::TensorAnalysis> for RuleApplier {
    fn apply_one(
        &self,
        eg: &mut EGraph,
        eclass: Id,
        _subst: &Subst,
        _ast: Option<&egg::PatternAst<TensorNode>>,
        _rule: Symbol,
    ) -> Vec<Id> {
        let proposals = self.0.rewrite(&Ctx { eg }, eclass);
        let mut changed = vec![];
        for e in proposals {
            // A proposal of another type would be a bug in the rule: never merge it.
            let same_type = expr_types(eg, &e).is_ok_and(|t| t == eg[eclass].data.types);
            if !same_type {
                debug_assert!(false, "rule {} proposed a different type", self.0.name());
                continue;
            }
            if let Ok(id) = add_expr(eg, &e) {
                if eg.union(eclass, id) {
                    changed.push(eclass);
                }
            }
        }
        changed
    }
}

/// The egg rewrite that runs `rule`.
pub fn to_rewrite(
    rule: Arc<dyn Rule>,
) -> egg::Rewrite<TensorNode, super::analysis::TensorAnalysis> {
    egg::Rewrite::new(rule.name(), RuleSearcher(rule.clone()), RuleApplier(rule))
        .expect("rules bind no variables")
}
