//! ONNX importer: decodes a `ModelProto` and maps every node to IR ops.
//!
//! Nodes whose inputs are all constants are folded at import time with the interpreter,
//! so shape computations (`Shape -> Gather -> Concat -> Reshape`) become constants.
//! `DequantizeLinear` of a constant is the exception: it stays, so that QDQ models keep
//! their integer weights.

mod attrs;
mod consts;
mod ops;
pub use ops::supported_ops;

use attrs::NodeCtx;
use nnopt_compiler::interp::{eval_op, Operand};
use nnopt_compiler::ir::infer::infer_types;
use nnopt_compiler::ir::{Graph, Op, QuantParams, Tensor, TensorType, Value, ValueRef};
use nnopt_compiler::{Error, Result};
use prost::Message;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb;

/// Imports an ONNX model from its serialized bytes.
pub fn import_onnx_bytes(bytes: &[u8], name: &str) -> Result<Graph> {
    import_onnx_with_constants(bytes, name, &HashMap::new())
}

/// Imports an ONNX model, binding the graph inputs named in `constants` to the given
/// values (e.g. a shape or axes fed as an input); they are not graph inputs of the result.
pub fn import_onnx_with_constants(
    bytes: &[u8],
    name: &str,
    constants: &HashMap<String, Tensor>,
) -> Result<Graph> {
    let model = pb::ModelProto::decode(bytes)
        .map_err(|e| Error::new(format!("not a valid ONNX protobuf: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::new("the ONNX model has no graph"))?;
    let opset = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .max()
        .ok_or_else(|| Error::new("the ONNX model imports no default-domain opset"))?;
    let mut imp = Importer::new(name, opset, graph);
    let mut bound: Vec<_> = constants.iter().collect();
    bound.sort_by(|a, b| a.0.cmp(b.0));
    for (input, t) in bound {
        if !graph.input.iter().any(|i| &i.name == input) {
            return Err(Error::new(format!("'{input}' is not a graph input")));
        }
        let v = imp.add_const(input, t.clone(), None);
        imp.values.insert(input.clone(), v);
    }
    imp.import_graph(graph)?;
    Ok(imp.finish())
}

/// Converts an ONNX TensorProto (e.g. a conformance test's `input_0.pb`) to an IR tensor.
pub fn tensor_from_proto(t: &pb::TensorProto) -> Result<Tensor> {
    consts::tensor_from_proto(t).map_err(Error::new)
}

/// Largest element count of any tensor the importer creates or declares.
const MAX_ELEMENTS: usize = 1 << 28;

/// Element count of `shape`, rejecting overflowing or absurdly large shapes.
pub(crate) fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| Error::new(format!("shape {shape:?} is too large")))
}

/// Import state: the IR graph being built and the ONNX value names bound so far.
pub(crate) struct Importer {
    pub g: Graph,
    /// Default-domain opset version of the model.
    pub opset: i64,
    values: HashMap<String, ValueRef>,
    /// Every value name of the ONNX graph.
    reserved: HashSet<String>,
    /// Names of the IR values created so far.
    created: HashSet<String>,
    /// Nodes imported from inlined graph attributes so far (bodies unrolled, branches).
    inlined_nodes: usize,
}

/// The most nodes the inlined graph attributes of one model may add (Scan bodies unrolled
/// inside unrolled Scans would otherwise multiply without bound).
const MAX_INLINED_NODES: usize = 1_000_000;

impl Importer {
    fn new(name: &str, opset: i64, graph: &pb::GraphProto) -> Self {
        let all = graph
            .node
            .iter()
            .flat_map(|n| n.output.iter().chain(&n.input));
        let all = all.chain(graph.input.iter().map(|i| &i.name));
        let all = all.chain(graph.initializer.iter().map(|i| &i.name));
        let reserved = all.cloned().collect();
        Importer {
            g: Graph::new(name),
            opset,
            values: HashMap::new(),
            reserved,
            created: HashSet::new(),
            inlined_nodes: 0,
        }
    }

    fn import_graph(&mut self, graph: &pb::GraphProto) -> Result<()> {
        if !graph.sparse_initializer.is_empty() {
            return Err(Error::new("sparse initializers are not supported"));
        }
        for init in &graph.initializer {
            if self.values.contains_key(&init.name) {
                continue; // bound by the caller
            }
            let t = consts::tensor_from_proto(init)
                .map_err(|e| Error::new(format!("initializer '{}': {e}", init.name)))?;
            let v = self.add_const(&init.name, t, None);
            self.values.insert(init.name.clone(), v);
        }
        for input in &graph.input {
            if self.values.contains_key(&input.name) {
                continue; // an initializer listed as an input (IR < 4): a constant
            }
            let ty = consts::input_type(input)
                .map_err(|e| Error::new(format!("graph input '{}': {e}", input.name)))?;
            let name = self.fresh(&input.name);
            let v = self.g.add_input(name, ty);
            self.values.insert(input.name.clone(), v);
        }
        for (index, node) in graph.node.iter().enumerate() {
            self.import_node(node, index)?;
        }
        let mut outputs = Vec::with_capacity(graph.output.len());
        for o in &graph.output {
            let v = self.values.get(&o.name).ok_or_else(|| {
                Error::new(format!("graph output '{}' is never produced", o.name))
            })?;
            outputs.push(*v);
        }
        self.g.set_outputs(outputs);
        Ok(())
    }

    /// Imports the nodes of a graph attribute (a function of its inputs, such as a score
    /// modifier) with its inputs bound to `inputs`; its names are local to it, the
    /// enclosing graph's stay visible. Returns the values of its outputs.
    pub fn inline_graph(
        &mut self,
        graph: &pb::GraphProto,
        inputs: &[ValueRef],
    ) -> Result<Vec<ValueRef>> {
        if graph.input.len() != inputs.len() {
            return Err(Error::new(format!(
                "graph '{}' takes {} inputs, {} given",
                graph.name,
                graph.input.len(),
                inputs.len()
            )));
        }
        self.inlined_nodes = self.inlined_nodes.saturating_add(graph.node.len());
        if self.inlined_nodes > MAX_INLINED_NODES {
            return Err(Error::new(format!(
                "inlining graph '{}' takes the model past {MAX_INLINED_NODES} inlined nodes",
                graph.name
            )));
        }
        let outer = self.values.clone();
        let result = self.inline_nodes(graph, inputs);
        self.values = outer;
        result
    }

    fn inline_nodes(
        &mut self,
        graph: &pb::GraphProto,
        inputs: &[ValueRef],
    ) -> Result<Vec<ValueRef>> {
        if !graph.sparse_initializer.is_empty() {
            return Err(Error::new("sparse initializers are not supported"));
        }
        for init in &graph.initializer {
            let t = consts::tensor_from_proto(init)
                .map_err(|e| Error::new(format!("initializer '{}': {e}", init.name)))?;
            let v = self.add_const(&init.name, t, None);
            self.values.insert(init.name.clone(), v);
        }
        for (input, &v) in graph.input.iter().zip(inputs) {
            self.values.insert(input.name.clone(), v);
        }
        for (index, node) in graph.node.iter().enumerate() {
            self.import_node(node, index)?;
        }
        graph
            .output
            .iter()
            .map(|o| {
                self.values.get(&o.name).copied().ok_or_else(|| {
                    Error::new(format!("graph output '{}' is never produced", o.name))
                })
            })
            .collect()
    }

    fn import_node(&mut self, node: &pb::NodeProto, index: usize) -> Result<()> {
        let label = if node.name.is_empty() {
            format!("{} #{index}", node.op_type)
        } else {
            node.name.clone()
        };
        let mut inputs = Vec::with_capacity(node.input.len());
        for name in &node.input {
            if name.is_empty() {
                inputs.push(None);
                continue;
            }
            let v = self.values.get(name).ok_or_else(|| {
                Error::at_node(
                    &label,
                    format!("input '{name}' is not defined before this node"),
                )
            })?;
            inputs.push(Some(*v));
        }
        let cx = NodeCtx {
            node,
            label,
            inputs,
        };
        let results = ops::import(self, &cx).map_err(|e| e.in_node(&cx.label))?;
        for (k, name) in node.output.iter().enumerate() {
            if name.is_empty() {
                continue;
            }
            let v = results.get(k).ok_or_else(|| {
                cx.err(format!(
                    "output {k} ('{name}') of {} is not supported",
                    node.op_type
                ))
            })?;
            self.values.insert(name.clone(), *v);
        }
        Ok(())
    }

    /// Removes nodes that no graph output depends on (graph inputs stay).
    fn finish(mut self) -> Graph {
        let mut live = HashSet::new();
        let mut stack: Vec<_> = self.g.outputs().iter().map(|v| v.node).collect();
        while let Some(n) = stack.pop() {
            if live.insert(n) {
                stack.extend(self.g.node_inputs(n).iter().map(|v| v.node));
            }
        }
        for n in self.g.node_indices() {
            if !live.contains(&n) && !self.g.inputs().contains(&n) {
                self.g.remove_node(n);
            }
        }
        self.g.compacted()
    }

    /// A new value name: `base` itself when no IR value has it yet, else `base_K` chosen
    /// to avoid both IR values and names of the ONNX graph.
    pub fn fresh(&mut self, base: &str) -> String {
        let name = if self.created.contains(base) {
            (1..)
                .map(|i| format!("{base}_{i}"))
                .find(|s| !self.created.contains(s) && !self.reserved.contains(s))
                .expect("an unused name exists")
        } else {
            base.to_string()
        };
        self.created.insert(name.clone());
        name
    }

    /// The type of a value.
    pub fn ty(&self, v: ValueRef) -> &TensorType {
        self.g.ty(v)
    }

    /// The shape of a value.
    pub fn shape(&self, v: ValueRef) -> Vec<usize> {
        self.g.ty(v).shape.clone()
    }

    /// Constant data behind a value, if any.
    pub fn const_value(&self, v: ValueRef) -> Option<&Tensor> {
        self.g.const_value(v)
    }

    /// Adds a constant named after `base`.
    pub fn add_const(&mut self, base: &str, t: Tensor, quant: Option<QuantParams>) -> ValueRef {
        let name = self.fresh(base);
        self.g.add_const(name, t, quant)
    }

    /// Adds `op` on `inputs` with output values named after `names` (one per output).
    /// Output types come from type inference; `quant` sets quantization parameters on
    /// output 0. All-constant inputs fold into constants.
    pub fn emit_q(
        &mut self,
        op: Op,
        inputs: &[ValueRef],
        names: &[&str],
        quant: Option<QuantParams>,
    ) -> Result<Vec<ValueRef>> {
        if let Op::Reshape { shape: dims } | Op::Resize { sizes: dims, .. } = &op {
            element_count(dims)?;
        }
        let in_types: Vec<&TensorType> = inputs.iter().map(|&v| self.g.ty(v)).collect();
        let mut types = infer_types(&op, &in_types)?;
        for t in &types {
            element_count(&t.shape)?;
        }
        if types.len() != names.len() {
            return Err(Error::new(format!(
                "{} produces {} outputs, {} expected",
                op.name(),
                types.len(),
                names.len()
            )));
        }
        if let Some(q) = quant {
            types[0].quant = Some(q);
        }
        let foldable = !matches!(op, Op::Dequantize)
            && inputs.iter().all(|&v| self.g.const_value(v).is_some());
        if foldable {
            let operands: Vec<Operand<'_>> = inputs
                .iter()
                .map(|&v| Operand {
                    data: self.g.const_value(v).expect("checked"),
                    ty: self.g.ty(v),
                })
                .collect();
            let results = eval_op(&op, &operands, &types)
                .map_err(|e| Error::new(format!("constant folding failed: {}", e.message)))?;
            return Ok(results
                .into_iter()
                .zip(types)
                .zip(names)
                .map(|((t, ty), name)| self.add_const(name, t, ty.quant))
                .collect());
        }
        let outputs: Vec<Value> = types
            .into_iter()
            .zip(names)
            .map(|(ty, name)| Value {
                name: self.fresh(name),
                ty,
            })
            .collect();
        let node_name = outputs[0].name.clone();
        let n = self.g.add_node(node_name, op, inputs, outputs);
        Ok((0..names.len())
            .map(|output| ValueRef { node: n, output })
            .collect())
    }

    /// Single-output [`Importer::emit_q`] without quantization parameters.
    pub fn emit(&mut self, op: Op, inputs: &[ValueRef], name: &str) -> Result<ValueRef> {
        Ok(self.emit_q(op, inputs, &[name], None)?[0])
    }

    /// Reshapes `x` (returns it unchanged when the shape already matches).
    pub fn reshape(&mut self, x: ValueRef, shape: Vec<usize>, name: &str) -> Result<ValueRef> {
        if self.g.ty(x).shape == shape {
            return Ok(x);
        }
        self.emit(Op::Reshape { shape }, &[x], name)
    }

    /// Gives `x` the quantization parameters `q`: sets them on its type when it has none
    /// (copying constants), errors when it already has different ones.
    pub fn with_quant(&mut self, x: ValueRef, q: QuantParams) -> Result<ValueRef> {
        let ty = self.g.ty(x);
        if ty.quant.as_ref() == Some(&q) {
            return Ok(x);
        }
        if !(ty.dtype.is_qdq_int() || ty.dtype.is_qdq_float()) {
            return Err(Error::new(format!(
                "cannot attach quantization parameters to {ty}"
            )));
        }
        if let Some(t) = self.g.const_value(x) {
            let t = t.clone();
            let base = format!("{}_q", self.g.value(x).name);
            return Ok(self.add_const(&base, t, Some(q)));
        }
        if ty.quant.is_some() {
            return Err(Error::new(format!(
                "value '{}' is already quantized as {ty}, cannot requantize it in place",
                self.g.value(x).name
            )));
        }
        self.g.node_mut(x.node).outputs[x.output].ty.quant = Some(q);
        Ok(x)
    }
}
