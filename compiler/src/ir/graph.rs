//! The IR graph: ops as petgraph nodes, values as their outputs, edges wiring an output of
//! one node to an input slot of another.

use super::op::Op;
use super::tensor::{QuantParams, Tensor, TensorType};
use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences};
use petgraph::Direction;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A named, typed output of a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub name: String,
    pub ty: TensorType,
}

/// An operation in the graph with its outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Name from the source model (or generated); used in errors.
    pub name: String,
    pub op: Op,
    pub outputs: Vec<Value>,
}

/// Wires output `output` of the source node to input slot `input` of the target node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub output: usize,
    pub input: usize,
}

/// Reference to one output of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueRef {
    pub node: NodeIndex,
    pub output: usize,
}

impl ValueRef {
    /// Output 0 of `node`.
    pub fn first(node: NodeIndex) -> Self {
        ValueRef { node, output: 0 }
    }
}

/// A dataflow graph of typed ops.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Model name.
    pub name: String,
    g: StableDiGraph<Node, Edge>,
    inputs: Vec<NodeIndex>,
    outputs: Vec<ValueRef>,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Self {
        Graph {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Adds a graph input.
    pub fn add_input(&mut self, name: impl Into<String>, ty: TensorType) -> ValueRef {
        let name = name.into();
        let n = self.g.add_node(Node {
            name: name.clone(),
            op: Op::Input,
            outputs: vec![Value { name, ty }],
        });
        self.inputs.push(n);
        ValueRef::first(n)
    }

    /// Adds a constant with optional quantization parameters.
    pub fn add_const(
        &mut self,
        name: impl Into<String>,
        value: Tensor,
        quant: Option<QuantParams>,
    ) -> ValueRef {
        let name = name.into();
        let ty = value.tensor_type().with_quant(quant);
        let n = self.g.add_node(Node {
            name: name.clone(),
            op: Op::Const { value },
            outputs: vec![Value { name, ty }],
        });
        ValueRef::first(n)
    }

    /// Adds an op node consuming `inputs` (in slot order) and producing `outputs`.
    pub fn add_node(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: &[ValueRef],
        outputs: Vec<Value>,
    ) -> NodeIndex {
        let n = self.g.add_node(Node {
            name: name.into(),
            op,
            outputs,
        });
        for (slot, v) in inputs.iter().enumerate() {
            self.g.add_edge(
                v.node,
                n,
                Edge {
                    output: v.output,
                    input: slot,
                },
            );
        }
        n
    }

    /// Adds a single-output op whose output value is named like the node.
    pub fn add_op(
        &mut self,
        name: impl Into<String>,
        op: Op,
        inputs: &[ValueRef],
        ty: TensorType,
    ) -> ValueRef {
        let name = name.into();
        let outputs = vec![Value {
            name: name.clone(),
            ty,
        }];
        ValueRef::first(self.add_node(name, op, inputs, outputs))
    }

    /// The node at `n`. Panics on a removed index (an internal invariant).
    pub fn node(&self, n: NodeIndex) -> &Node {
        &self.g[n]
    }

    /// Mutable access to the node at `n`.
    pub fn node_mut(&mut self, n: NodeIndex) -> &mut Node {
        &mut self.g[n]
    }

    /// Whether `n` is a live node.
    pub fn contains(&self, n: NodeIndex) -> bool {
        self.g.contains_node(n)
    }

    /// The value behind a reference.
    pub fn value(&self, v: ValueRef) -> &Value {
        &self.g[v.node].outputs[v.output]
    }

    /// The type of a value.
    pub fn ty(&self, v: ValueRef) -> &TensorType {
        &self.value(v).ty
    }

    /// Constant data behind a value, if its producer is a constant.
    pub fn const_value(&self, v: ValueRef) -> Option<&Tensor> {
        match &self.g[v.node].op {
            Op::Const { value } => Some(value),
            _ => None,
        }
    }

    /// Inputs of node `n` in slot order.
    pub fn node_inputs(&self, n: NodeIndex) -> Vec<ValueRef> {
        let mut ins: Vec<(usize, ValueRef)> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .map(|e| {
                (
                    e.weight().input,
                    ValueRef {
                        node: e.source(),
                        output: e.weight().output,
                    },
                )
            })
            .collect();
        ins.sort_by_key(|(slot, _)| *slot);
        ins.into_iter().map(|(_, v)| v).collect()
    }

    /// Input slots (with their slot numbers) of node `n`, for the verifier.
    pub fn input_slots(&self, n: NodeIndex) -> Vec<usize> {
        let mut s: Vec<usize> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .map(|e| e.weight().input)
            .collect();
        s.sort_unstable();
        s
    }

    /// Consumers of value `v` as (node, input slot), sorted.
    pub fn consumers(&self, v: ValueRef) -> Vec<(NodeIndex, usize)> {
        let mut c: Vec<(NodeIndex, usize)> = self
            .g
            .edges_directed(v.node, Direction::Outgoing)
            .filter(|e| e.weight().output == v.output)
            .map(|e| (e.target(), e.weight().input))
            .collect();
        c.sort();
        c
    }

    /// Number of uses of `v`, counting graph outputs.
    pub fn use_count(&self, v: ValueRef) -> usize {
        self.consumers(v).len() + self.outputs.iter().filter(|&&o| o == v).count()
    }

    /// Redirects every use of `old` (node inputs and graph outputs) to `new`.
    pub fn replace_all_uses(&mut self, old: ValueRef, new: ValueRef) {
        for (consumer, slot) in self.consumers(old) {
            self.set_input(consumer, slot, new);
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
    }

    /// Rewires input slot `slot` of node `n` to `v`.
    pub fn set_input(&mut self, n: NodeIndex, slot: usize, v: ValueRef) {
        let old: Vec<_> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .filter(|e| e.weight().input == slot)
            .map(|e| e.id())
            .collect();
        for e in old {
            self.g.remove_edge(e);
        }
        self.g.add_edge(
            v.node,
            n,
            Edge {
                output: v.output,
                input: slot,
            },
        );
    }

    /// Replaces all inputs of node `n`.
    pub fn set_inputs(&mut self, n: NodeIndex, inputs: &[ValueRef]) {
        let old: Vec<_> = self
            .g
            .edges_directed(n, Direction::Incoming)
            .map(|e| e.id())
            .collect();
        for e in old {
            self.g.remove_edge(e);
        }
        for (slot, v) in inputs.iter().enumerate() {
            self.g.add_edge(
                v.node,
                n,
                Edge {
                    output: v.output,
                    input: slot,
                },
            );
        }
    }

    /// Removes a node and its edges. Graph inputs stay listed only while alive.
    pub fn remove_node(&mut self, n: NodeIndex) {
        self.g.remove_node(n);
        self.inputs.retain(|&i| i != n);
    }

    /// Graph input nodes, in order.
    pub fn inputs(&self) -> &[NodeIndex] {
        &self.inputs
    }

    /// Graph outputs, in order.
    pub fn outputs(&self) -> &[ValueRef] {
        &self.outputs
    }

    /// Sets the graph outputs.
    pub fn set_outputs(&mut self, outputs: Vec<ValueRef>) {
        self.outputs = outputs;
    }

    /// Live node indices in index order.
    pub fn node_indices(&self) -> Vec<NodeIndex> {
        self.g.node_indices().collect()
    }

    /// Number of live nodes.
    pub fn node_count(&self) -> usize {
        self.g.node_count()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.g.edge_count()
    }

    /// The underlying petgraph graph (read-only).
    pub fn petgraph(&self) -> &StableDiGraph<Node, Edge> {
        &self.g
    }

    /// Deterministic topological order: among ready nodes, the lowest index first.
    /// Returns `Err(node)` naming a node on a cycle.
    pub fn topo_order(&self) -> Result<Vec<NodeIndex>, NodeIndex> {
        let mut indeg: std::collections::HashMap<NodeIndex, usize> =
            self.g.node_indices().map(|n| (n, 0)).collect();
        for e in (&self.g).edge_references() {
            *indeg.get_mut(&e.target()).expect("edge target is live") += 1;
        }
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = indeg
            .iter()
            .filter(|(_, &d)| d == 0)
            .map(|(&n, _)| Reverse(n))
            .collect();
        let mut order = Vec::with_capacity(self.g.node_count());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(n);
            for e in self.g.edges_directed(n, Direction::Outgoing) {
                let d = indeg.get_mut(&e.target()).expect("edge target is live");
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse(e.target()));
                }
            }
        }
        if order.len() != self.g.node_count() {
            let stuck = indeg
                .iter()
                .filter(|(_, &d)| d > 0)
                .map(|(&n, _)| n)
                .min()
                .expect("some node is on a cycle");
            return Err(stuck);
        }
        Ok(order)
    }

    /// Finds a live node by its name.
    pub fn find_node(&self, name: &str) -> Option<NodeIndex> {
        self.g.node_indices().find(|&n| self.g[n].name == name)
    }

    /// A name not yet used by any node or value, derived from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        let taken = |s: &str| {
            self.g
                .node_weights()
                .any(|n| n.name == s || n.outputs.iter().any(|v| v.name == s))
        };
        if !taken(base) {
            return base.to_string();
        }
        (1..)
            .map(|i| format!("{base}_{i}"))
            .find(|s| !taken(s))
            .expect("an unused name exists")
    }

    /// Rebuilds the graph with compact node indices in topological order (used after
    /// heavy rewriting so that printing stays stable).
    pub fn compacted(&self) -> Graph {
        let order = self.topo_order().unwrap_or_else(|_| self.node_indices());
        let mut out = Graph::new(self.name.clone());
        let mut map = std::collections::HashMap::new();
        for n in order {
            let node = self.g[n].clone();
            let ins: Vec<ValueRef> = self
                .node_inputs(n)
                .iter()
                .map(|v| ValueRef {
                    node: map[&v.node],
                    output: v.output,
                })
                .collect();
            let new = out.add_node(node.name, node.op, &ins, node.outputs);
            map.insert(n, new);
        }
        out.inputs = self.inputs.iter().map(|i| map[i]).collect();
        out.outputs = self
            .outputs
            .iter()
            .map(|v| ValueRef {
                node: map[&v.node],
                output: v.output,
            })
            .collect();
        out
    }
}

impl Graph {
    /// Reorders the graph inputs; `order` must be a permutation of the current inputs.
    pub fn reorder_inputs(&mut self, order: &[NodeIndex]) {
        debug_assert_eq!(order.len(), self.inputs.len());
        self.inputs = order.to_vec();
    }
}
