//! Planning: which nodes run in int8 and the quantization parameters of every value
//! that becomes int8 (outputs of int8 nodes, and float values they consume).

use super::observer::{int8_params, CalibrationMethod, Observer};
use super::support::{classify, Output, Rule, Slot};
use nnopt_compiler::ir::{Graph, NodeIndex, ValueRef};
use nnopt_compiler::{Error, Result};
use std::collections::{HashMap, HashSet};

/// A node that stays float, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatNode {
    pub node: String,
    pub op: String,
    pub reason: String,
}

/// The decisions of the planner.
pub struct Plan {
    /// Int8 nodes in topological order, with their rules.
    pub nodes: Vec<(NodeIndex, Rule)>,
    /// Scale and zero point of every value that is or becomes int8.
    pub params: HashMap<ValueRef, (f32, i64)>,
    pub float_nodes: Vec<FloatNode>,
    int8: HashSet<NodeIndex>,
}

impl Plan {
    /// Whether node `n` runs in int8.
    pub fn is_int8(&self, n: NodeIndex) -> bool {
        self.int8.contains(&n)
    }
}

/// Calibrated per-tensor parameters of a value.
fn calibrated(
    g: &Graph,
    v: ValueRef,
    observers: &HashMap<ValueRef, Observer>,
    method: CalibrationMethod,
    percentile: f32,
) -> Result<(f32, i64)> {
    let o = observers.get(&v).filter(|o| !o.is_empty()).ok_or_else(|| {
        Error::new(format!(
            "no finite calibration values for '{}'",
            g.value(v).name
        ))
    })?;
    let (lo, hi) = o.range(method, percentile);
    let (scale, zp) = int8_params(lo as f64, hi as f64);
    Ok((scale as f32, zp))
}

/// Decides the int8 nodes and parameters, in topological order.
pub fn plan(
    g: &Graph,
    observers: &HashMap<ValueRef, Observer>,
    method: CalibrationMethod,
    percentile: f32,
) -> Result<Plan> {
    let order = g
        .topo_order()
        .map_err(|n| Error::at_node(&g.node(n).name, "graph has a cycle"))?;
    let mut plan = Plan {
        nodes: vec![],
        params: HashMap::new(),
        float_nodes: vec![],
        int8: HashSet::new(),
    };
    for n in order {
        let node = g.node(n);
        if node.op.is_source() {
            continue;
        }
        let stay_float = |reason: String| FloatNode {
            node: node.name.clone(),
            op: node.op.detailed_name(),
            reason,
        };
        let rule = match classify(g, n) {
            Ok(r) => r,
            Err(reason) => {
                plan.float_nodes.push(stay_float(reason));
                continue;
            }
        };
        let ins = g.node_inputs(n);
        if rule.moves_data && !plan.is_int8(ins[0].node) {
            plan.float_nodes
                .push(stay_float("moves data between float values".into()));
            continue;
        }
        let mut new_params = vec![];
        let mut failed = None;
        for (slot, &v) in rule.slots.iter().zip(&ins) {
            if *slot == Slot::Act && !plan.params.contains_key(&v) {
                match calibrated(g, v, observers, method, percentile) {
                    Ok(p) => new_params.push((v, p)),
                    Err(e) => failed = Some(e.message),
                }
            }
        }
        let input0 = plan.params.get(&ins[0]).copied().or_else(|| {
            new_params
                .iter()
                .find(|(v, _)| *v == ins[0])
                .map(|&(_, p)| p)
        });
        for k in 0..node.outputs.len() {
            let v = ValueRef { node: n, output: k };
            let p = match rule.output {
                Output::Calibrated => {
                    calibrated(g, v, observers, method, percentile).map_err(|e| e.message)
                }
                Output::SameAsInput => {
                    input0.ok_or_else(|| "the data operand has no parameters".to_string())
                }
                Output::Fixed { scale, zero_point } => Ok((scale, zero_point)),
            };
            match p {
                Ok(p) => new_params.push((v, p)),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(reason) = failed {
            plan.float_nodes.push(stay_float(reason));
            continue;
        }
        plan.params.extend(new_params);
        plan.int8.insert(n);
        plan.nodes.push((n, rule));
    }
    Ok(plan)
}
