//! CPU segments: a run of fallback nodes as an IR subgraph reading and writing the arena.

use super::Lowering;
use crate::npu::program::{CpuSegment, IoBinding, TensorId};
use nnopt_compiler::ir::text::{print_graph, PrintOptions};
use nnopt_compiler::ir::{Graph, NodeIndex, ValueRef};
use nnopt_compiler::Result;
use std::collections::{HashMap, HashSet};

impl Lowering<'_> {
    /// Builds the CPU segment of a run of fallback nodes: an IR subgraph whose inputs are
    /// the values it reads from the arena and whose outputs are the values read later.
    pub(super) fn segment(
        &mut self,
        run: &[NodeIndex],
        outputs: &[IoBinding],
    ) -> Result<CpuSegment> {
        let g = self.g;
        let members: HashSet<NodeIndex> = run.iter().copied().collect();
        let bound: HashSet<TensorId> = outputs.iter().map(|b| b.tensor).collect();
        let mut sg = Graph::new(format!("{}.cpu", g.name));
        let mut map: HashMap<ValueRef, ValueRef> = HashMap::new();
        let mut seg_inputs = Vec::new();
        for &n in run {
            for v in g.node_inputs(n) {
                if map.contains_key(&v) || members.contains(&v.node) {
                    continue;
                }
                let val = g.value(v);
                let new = match g.const_value(v) {
                    Some(t) => sg.add_const(val.name.clone(), t.clone(), val.ty.quant.clone()),
                    None => {
                        seg_inputs.push(self.tensor(v));
                        sg.add_input(val.name.clone(), val.ty.clone())
                    }
                };
                map.insert(v, new);
            }
            let node = g.node(n);
            let ins: Vec<ValueRef> = g.node_inputs(n).iter().map(|v| map[v]).collect();
            let new = sg.add_node(
                node.name.clone(),
                node.op.clone(),
                &ins,
                node.outputs.clone(),
            );
            for k in 0..node.outputs.len() {
                map.insert(
                    ValueRef { node: n, output: k },
                    ValueRef {
                        node: new,
                        output: k,
                    },
                );
            }
        }
        let mut seg_outputs = Vec::new();
        let mut sg_outputs = Vec::new();
        for &n in run {
            for k in 0..g.node(n).outputs.len() {
                let v = ValueRef { node: n, output: k };
                let used_outside = g.consumers(v).iter().any(|(c, _)| !members.contains(c))
                    || self.tensor_of.get(&v).is_some_and(|t| bound.contains(t));
                if used_outside {
                    seg_outputs.push(self.tensor(v));
                    sg_outputs.push(map[&v]);
                }
            }
        }
        sg.set_outputs(sg_outputs);
        let text = print_graph(
            &sg,
            &PrintOptions {
                elide_constants_over: None,
            },
        );
        Ok(CpuSegment {
            graph: text,
            inputs: seg_inputs,
            outputs: seg_outputs,
            nodes: run.iter().map(|&n| g.node(n).name.clone()).collect(),
        })
    }
}
