//! The e-class analysis: every class knows its output types and, when it is constant,
//! its value. Classes whose inputs are all constant are folded by evaluating the op with
//! the reference interpreter, so constant folding happens during saturation.

use super::language::{ConstId, OpId, TensorNode};
use egg::{DidMerge, Id};
use nnopt_compiler::interp::{eval_op, Operand};
use nnopt_compiler::ir::{infer::infer_types, Op, Tensor, TensorType};
use nnopt_compiler::Result;
use std::collections::HashMap;

/// The e-graph of tensor programs.
pub type EGraph = egg::EGraph<TensorNode, TensorAnalysis>;

/// An interned op: the op and the types of its outputs (which carry quantization).
#[derive(Clone, Debug)]
pub struct OpEntry {
    pub op: Op,
    pub outputs: Vec<TensorType>,
}

/// An interned constant and its type (with quantization parameters).
#[derive(Clone, Debug)]
pub struct ConstEntry {
    pub value: Tensor,
    pub ty: TensorType,
}

/// Interning tables and folding limits shared by the whole e-graph.
#[derive(Debug, Default)]
pub struct TensorAnalysis {
    /// Types of the graph inputs, in order.
    pub inputs: Vec<TensorType>,
    ops: Vec<OpEntry>,
    op_index: HashMap<String, OpId>,
    consts: Vec<ConstEntry>,
    const_index: HashMap<u64, Vec<ConstId>>,
    /// Results larger than this many elements are not folded.
    pub fold_limit: usize,
}

/// What the analysis knows of a class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassData {
    /// One type per output (several only for multi-output ops).
    pub types: Vec<TensorType>,
    /// The constant value of each output, when all are known.
    pub constant: Option<Vec<ConstId>>,
}

impl TensorAnalysis {
    /// An analysis for a graph with these input types.
    pub fn new(inputs: Vec<TensorType>, fold_limit: usize) -> Self {
        TensorAnalysis {
            inputs,
            fold_limit,
            ..Default::default()
        }
    }

    /// Interns an op with its output types.
    pub fn intern_op(&mut self, op: Op, outputs: Vec<TensorType>) -> OpId {
        let key = serde_json::to_string(&(&op, &outputs)).expect("ops serialize");
        if let Some(&id) = self.op_index.get(&key) {
            return id;
        }
        let id = OpId(self.ops.len() as u32);
        self.ops.push(OpEntry { op, outputs });
        self.op_index.insert(key, id);
        id
    }

    /// Interns a constant of type `ty`.
    pub fn intern_const(&mut self, value: Tensor, ty: TensorType) -> ConstId {
        let key = value.content_hash();
        if let Some(ids) = self.const_index.get(&key) {
            for &id in ids {
                let c = &self.consts[id.0 as usize];
                if c.ty == ty && c.value == value {
                    return id;
                }
            }
        }
        let id = ConstId(self.consts.len() as u32);
        self.consts.push(ConstEntry { value, ty });
        self.const_index.entry(key).or_default().push(id);
        id
    }

    /// The interned op `id`.
    pub fn op(&self, id: OpId) -> &OpEntry {
        &self.ops[id.0 as usize]
    }

    /// The interned constant `id`.
    pub fn constant(&self, id: ConstId) -> &ConstEntry {
        &self.consts[id.0 as usize]
    }
}

/// Adds `op` over `children` to the e-graph, inferring its output types.
pub fn add_op(eg: &mut EGraph, op: Op, children: Vec<Id>) -> Result<Id> {
    let types = {
        let ins: Vec<&TensorType> = children.iter().map(|&c| &eg[c].data.types[0]).collect();
        infer_types(&op, &ins)?
    };
    Ok(add_typed_op(eg, op, children, types))
}

/// Adds `op` over `children` with the given output types.
pub fn add_typed_op(eg: &mut EGraph, op: Op, children: Vec<Id>, types: Vec<TensorType>) -> Id {
    let id = eg.analysis.intern_op(op, types);
    eg.add(TensorNode::Op(id, children.into_boxed_slice()))
}

/// Adds a constant to the e-graph.
pub fn add_const(eg: &mut EGraph, value: Tensor, ty: TensorType) -> Id {
    let id = eg.analysis.intern_const(value, ty);
    eg.add(TensorNode::Const(id))
}

/// Evaluates an op whose inputs are all constant, when folding it is worthwhile.
fn fold(eg: &EGraph, op: OpId, children: &[Id]) -> Option<Vec<Tensor>> {
    let entry = eg.analysis.op(op);
    if children.is_empty() || matches!(entry.op, Op::Dequantize) {
        return None;
    }
    if entry
        .outputs
        .iter()
        .any(|t| t.num_elements() > eg.analysis.fold_limit)
    {
        return None;
    }
    let consts: Vec<&ConstEntry> = children
        .iter()
        .map(|&c| match eg[c].data.constant.as_deref() {
            Some([k]) => Some(eg.analysis.constant(*k)),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let operands: Vec<Operand<'_>> = consts
        .iter()
        .map(|c| Operand {
            data: &c.value,
            ty: &c.ty,
        })
        .collect();
    eval_op(&entry.op, &operands, &entry.outputs).ok()
}

impl egg::Analysis<TensorNode> for TensorAnalysis {
    type Data = ClassData;

    fn make(eg: &mut EGraph, enode: &TensorNode) -> ClassData {
        match enode {
            TensorNode::Input(i) => ClassData {
                types: vec![eg.analysis.inputs[*i as usize].clone()],
                constant: None,
            },
            TensorNode::Const(c) => ClassData {
                types: vec![eg.analysis.constant(*c).ty.clone()],
                constant: Some(vec![*c]),
            },
            TensorNode::Op(op, children) => {
                let types = eg.analysis.op(*op).outputs.clone();
                let constant = fold(eg, *op, children).map(|values| {
                    values
                        .into_iter()
                        .zip(&types)
                        .map(|(v, t)| eg.analysis.intern_const(v, t.clone()))
                        .collect()
                });
                ClassData { types, constant }
            }
            TensorNode::Output(k, [tuple]) => {
                let data = &eg[*tuple].data;
                ClassData {
                    types: vec![data.types[*k as usize].clone()],
                    constant: data.constant.as_ref().map(|c| vec![c[*k as usize]]),
                }
            }
        }
    }

    fn merge(&mut self, a: &mut ClassData, b: ClassData) -> DidMerge {
        debug_assert_eq!(a.types, b.types, "merged classes must have one type");
        match (&a.constant, b.constant) {
            (None, Some(c)) => {
                a.constant = Some(c);
                DidMerge(true, false)
            }
            (Some(_), None) => DidMerge(false, true),
            _ => DidMerge(false, false),
        }
    }

    fn modify(eg: &mut EGraph, id: Id) {
        if let Some([c]) = eg[id].data.constant.clone().as_deref() {
            let k = eg.add(TensorNode::Const(*c));
            eg.union(id, k);
        }
    }
}
