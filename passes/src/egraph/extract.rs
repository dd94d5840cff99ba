//! Translation between IR graphs and e-graphs: a graph becomes one e-graph (every op is
//! an e-node), and the cheapest e-node of each needed class becomes a graph node again.

use super::analysis::{add_const, add_typed_op, EGraph, TensorAnalysis};
use super::language::TensorNode;
use egg::{CostFunction, Extractor, Id, Language};
use nnopt_compiler::cost::{OpCost, OpSite};
use nnopt_compiler::ir::{Graph, Op, TensorType, Value, ValueRef};
use nnopt_compiler::{Error, Result};
use std::collections::HashMap;

/// What is needed to translate an e-graph back into a graph like the source one.
pub struct Skeleton {
    /// The class of each graph output.
    pub roots: Vec<Id>,
    /// Names from the source graph: node and output-value names of each class, in
    /// topological order (the first name of a class wins).
    names: Vec<(Id, SourceNames)>,
    inputs: Vec<(String, TensorType)>,
    output_names: Vec<String>,
    /// The names of the nodes producing the graph outputs.
    output_nodes: Vec<String>,
    graph_name: String,
}

/// A node name and its output-value names.
type SourceNames = (String, Vec<String>);

/// Whether `op` denotes a tuple of outputs in the e-graph.
fn is_tuple(op: &Op, outputs: usize) -> bool {
    outputs != 1 || matches!(op, Op::Split { .. })
}

/// Builds the e-graph of `g`.
pub fn to_egraph(g: &Graph, fold_limit: usize) -> Result<(EGraph, Skeleton)> {
    let order = g
        .topo_order()
        .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
    let input_types = g
        .inputs()
        .iter()
        .map(|&n| g.node(n).outputs[0].ty.clone())
        .collect();
    let mut eg = EGraph::new(TensorAnalysis::new(input_types, fold_limit));
    let mut ids: HashMap<ValueRef, Id> = HashMap::new();
    let mut names = Vec::new();
    for n in order {
        let node = g.node(n);
        let value_names: Vec<String> = node.outputs.iter().map(|v| v.name.clone()).collect();
        let id = match &node.op {
            Op::Input => {
                let pos =
                    g.inputs().iter().position(|&i| i == n).ok_or_else(|| {
                        Error::at_node(&node.name, "input node is not a graph input")
                    })?;
                eg.add(TensorNode::Input(pos as u32))
            }
            Op::Const { value } => add_const(&mut eg, value.clone(), node.outputs[0].ty.clone()),
            op => {
                let children = g.node_inputs(n).iter().map(|v| ids[v]).collect::<Vec<_>>();
                let types = node.outputs.iter().map(|v| v.ty.clone()).collect();
                add_typed_op(&mut eg, op.clone(), children, types)
            }
        };
        if is_tuple(&node.op, node.outputs.len()) {
            names.push((id, (node.name.clone(), value_names.clone())));
            for (k, name) in value_names.iter().enumerate() {
                let out = eg.add(TensorNode::Output(k as u32, [id]));
                names.push((out, (name.clone(), vec![name.clone()])));
                ids.insert(ValueRef { node: n, output: k }, out);
            }
        } else {
            names.push((id, (node.name.clone(), value_names)));
            ids.insert(ValueRef::first(n), id);
        }
    }
    eg.rebuild();
    let roots = g.outputs().iter().map(|v| ids[v]).collect();
    let skeleton = Skeleton {
        roots,
        names,
        inputs: g
            .inputs()
            .iter()
            .map(|&n| (g.node(n).name.clone(), g.node(n).outputs[0].ty.clone()))
            .collect(),
        output_names: g
            .outputs()
            .iter()
            .map(|&v| g.value(v).name.clone())
            .collect(),
        output_nodes: g
            .outputs()
            .iter()
            .map(|&v| g.node(v.node).name.clone())
            .collect(),
        graph_name: g.name.clone(),
    };
    Ok((eg, skeleton))
}

/// The cost of an e-node tree under an [`OpCost`] (egg's extraction cost).
pub struct TreeCost<'a> {
    pub egraph: &'a EGraph,
    pub model: &'a dyn OpCost,
}

impl TreeCost<'_> {
    /// The cost of the e-node alone.
    pub fn node_cost(&self, enode: &TensorNode) -> f64 {
        match enode {
            TensorNode::Op(op, children) => {
                let entry = self.egraph.analysis.op(*op);
                let ins: Vec<&TensorType> = children
                    .iter()
                    .map(|&c| &self.egraph[c].data.types[0])
                    .collect();
                let constant: Vec<bool> = children
                    .iter()
                    .map(|&c| self.egraph[c].data.constant.is_some())
                    .collect();
                self.model.op_cost(&OpSite {
                    op: &entry.op,
                    inputs: &ins,
                    constant: &constant,
                    outputs: &entry.outputs,
                })
            }
            _ => 0.0,
        }
    }
}

impl CostFunction<TensorNode> for TreeCost<'_> {
    type Cost = f64;

    fn cost<C>(&mut self, enode: &TensorNode, mut costs: C) -> f64
    where
        C: FnMut(Id) -> f64,
    {
        let own = self.node_cost(enode);
        enode.fold(own, |sum, id| sum + costs(id))
    }
}

/// Translates the cheapest e-nodes reachable from the roots back into a graph. Names of
/// the source graph are kept for classes that had them; graph inputs and outputs keep
/// their names and order.
pub fn to_graph(eg: &EGraph, t: &Skeleton, model: &dyn OpCost) -> Result<Graph> {
    let extractor = Extractor::new(eg, TreeCost { egraph: eg, model });
    // Graph outputs name their classes first, so that outputs keep their names.
    let mut names: HashMap<Id, SourceNames> = HashMap::new();
    for (k, &root) in t.roots.iter().enumerate() {
        let n = (t.output_nodes[k].clone(), vec![t.output_names[k].clone()]);
        names.entry(eg.find(root)).or_insert(n);
    }
    for (id, n) in &t.names {
        names.entry(eg.find(*id)).or_insert_with(|| n.clone());
    }
    let mut b = Builder {
        eg,
        names,
        extractor,
        g: Graph::new(t.graph_name.clone()),
        inputs: vec![],
        done: HashMap::new(),
    };
    for (name, ty) in &t.inputs {
        let v = b.g.add_input(name.clone(), ty.clone());
        b.inputs.push(v);
    }
    let mut outputs = Vec::with_capacity(t.roots.len());
    for (k, &root) in t.roots.iter().enumerate() {
        let v = b.emit(root)?;
        let name = &t.output_names[k];
        // Interface names stay: an output that became an input or another output's
        // value is passed through an identity named like the original output.
        let v = if b.g.value(v).name == *name && !outputs.contains(&v) {
            v
        } else {
            let ty = b.g.ty(v).clone();
            b.g.add_op(b.g.fresh_name(name), Op::Identity, &[v], ty)
        };
        outputs.push(v);
    }
    b.g.set_outputs(outputs);
    Ok(b.g)
}

struct Builder<'a> {
    eg: &'a EGraph,
    /// Source names by canonical class.
    names: HashMap<Id, SourceNames>,
    extractor: Extractor<'a, TreeCost<'a>, TensorNode, TensorAnalysis>,
    g: Graph,
    inputs: Vec<ValueRef>,
    /// The node emitted for each class (for tuples, the multi-output node).
    done: HashMap<Id, ValueRef>,
}

impl Builder<'_> {
    fn emit(&mut self, class: Id) -> Result<ValueRef> {
        let class = self.eg.find(class);
        if let Some(&v) = self.done.get(&class) {
            return Ok(v);
        }
        let node = self.extractor.find_best_node(class).clone();
        let (node_name, value_names) = self.names(class);
        let v = match &node {
            TensorNode::Input(i) => self.inputs[*i as usize],
            TensorNode::Const(c) => {
                let entry = self.eg.analysis.constant(*c);
                let name = self.g.fresh_name(&node_name);
                self.g
                    .add_const(name, entry.value.clone(), entry.ty.quant.clone())
            }
            TensorNode::Output(k, [tuple]) => {
                let t = self.emit(*tuple)?;
                ValueRef {
                    node: t.node,
                    output: *k as usize,
                }
            }
            TensorNode::Op(op, children) => {
                let inputs = children
                    .iter()
                    .map(|&c| self.emit(c))
                    .collect::<Result<Vec<_>>>()?;
                let entry = self.eg.analysis.op(*op);
                let name = self.g.fresh_name(&node_name);
                let outputs = entry
                    .outputs
                    .iter()
                    .enumerate()
                    .map(|(k, ty)| Value {
                        name: value_names
                            .get(k)
                            .map(|n| self.g.fresh_name(n))
                            .unwrap_or_else(|| format!("{name}:{k}")),
                        ty: ty.clone(),
                    })
                    .collect();
                ValueRef::first(self.g.add_node(name, entry.op.clone(), &inputs, outputs))
            }
        };
        self.done.insert(class, v);
        Ok(v)
    }

    /// The source names of `class`, or fresh ones derived from the op.
    fn names(&self, class: Id) -> SourceNames {
        let eg = &self.eg;
        if let Some(n) = self.names.get(&class) {
            return n.clone();
        }
        let base = match self.extractor.find_best_node(class) {
            TensorNode::Op(op, _) => eg.analysis.op(*op).op.name().to_string(),
            TensorNode::Const(_) => "const".to_string(),
            _ => "value".to_string(),
        };
        (base.clone(), vec![base])
    }
}
