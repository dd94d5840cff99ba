//! The e-graph language: graph inputs, constants, IR ops and projections of
//! multi-output ops. Ops and constants are interned in the analysis
//! ([`super::analysis::TensorAnalysis`]); e-nodes carry their indices.

use egg::{Id, Language};
use std::fmt;

/// Index of an interned op (with its output types) in the analysis' op table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u32);

/// Index of an interned constant in the analysis' constant table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstId(pub u32);

/// An e-node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TensorNode {
    /// Graph input number `i`.
    Input(u32),
    /// An interned constant.
    Const(ConstId),
    /// An IR op applied to its input classes. Ops with several outputs (split) denote the
    /// tuple of their outputs; [`TensorNode::Output`] picks one.
    Op(OpId, Box<[Id]>),
    /// Output `k` of a multi-output op.
    Output(u32, [Id; 1]),
}

/// What [`Language::matches`] compares: the variant and its index, not the children.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Discriminant {
    Input(u32),
    Const(ConstId),
    Op(OpId, usize),
    Output(u32),
}

impl Language for TensorNode {
    type Discriminant = Discriminant;

    fn discriminant(&self) -> Discriminant {
        match self {
            TensorNode::Input(i) => Discriminant::Input(*i),
            TensorNode::Const(c) => Discriminant::Const(*c),
            TensorNode::Op(op, ch) => Discriminant::Op(*op, ch.len()),
            TensorNode::Output(k, _) => Discriminant::Output(*k),
        }
    }

    fn matches(&self, other: &Self) -> bool {
        self.discriminant() == other.discriminant()
    }

    fn children(&self) -> &[Id] {
        match self {
            TensorNode::Input(_) | TensorNode::Const(_) => &[],
            TensorNode::Op(_, ch) => ch,
            TensorNode::Output(_, ch) => ch,
        }
    }

    fn children_mut(&mut self) -> &mut [Id] {
        match self {
            TensorNode::Input(_) | TensorNode::Const(_) => &mut [],
            TensorNode::Op(_, ch) => ch,
            TensorNode::Output(_, ch) => ch,
        }
    }
}

impl fmt::Display for TensorNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorNode::Input(i) => write!(f, "input{i}"),
            TensorNode::Const(c) => write!(f, "const{}", c.0),
            TensorNode::Op(op, _) => write!(f, "op{}", op.0),
            TensorNode::Output(k, _) => write!(f, "output{k}"),
        }
    }
}
