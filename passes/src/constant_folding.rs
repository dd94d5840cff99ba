//! Evaluates nodes whose inputs are all constants.

use crate::options;
use nnopt_compiler::interp::{eval_op, Operand};
use nnopt_compiler::ir::{Graph, Op, ValueRef};
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;
use serde::Deserialize;

/// Replaces every node whose inputs are all constants by constants holding its outputs.
///
/// Dequantization of quantized constants is kept (it is how QDQ models store int8
/// weights) unless `fold_dequantize` is set.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConstantFolding {
    /// Outputs larger than this many elements are not folded.
    pub max_elements: usize,
    pub fold_dequantize: bool,
}

impl Default for ConstantFolding {
    fn default() -> Self {
        ConstantFolding {
            max_elements: 1 << 22,
            fold_dequantize: false,
        }
    }
}

impl ConstantFolding {
    pub const NAME: &'static str = "constant-folding";

    /// Builds the pass from pipeline options.
    pub fn from_options(o: &serde_yaml_ng::Value) -> Result<Self> {
        let pass: Self = options::parse(o)?;
        options::at_most(Self::NAME, &[("max_elements", pass.max_elements, 1 << 28)])?;
        Ok(pass)
    }

    fn foldable(&self, g: &Graph, n: nnopt_compiler::ir::NodeIndex) -> bool {
        let node = g.node(n);
        if node.op.is_source() || (matches!(node.op, Op::Dequantize) && !self.fold_dequantize) {
            return false;
        }
        let ins = g.node_inputs(n);
        !ins.is_empty()
            && ins.iter().all(|&v| g.const_value(v).is_some())
            && node
                .outputs
                .iter()
                .all(|v| v.ty.num_elements() <= self.max_elements)
    }
}

impl Pass for ConstantFolding {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for n in g.topo_order().unwrap_or_else(|_| g.node_indices()) {
            if !self.foldable(g, n) {
                continue;
            }
            let ins = g.node_inputs(n);
            let node = g.node(n).clone();
            let operands: Vec<Operand<'_>> = ins
                .iter()
                .map(|&v| Operand {
                    data: g.const_value(v).expect("checked constant"),
                    ty: g.ty(v),
                })
                .collect();
            let out_types: Vec<_> = node.outputs.iter().map(|v| v.ty.clone()).collect();
            let results =
                eval_op(&node.op, &operands, &out_types).map_err(|e| e.in_node(&node.name))?;
            let mut replacements = vec![];
            for (k, (t, v)) in results.into_iter().zip(&node.outputs).enumerate() {
                let tmp = g.fresh_name(&format!("{}.folded", v.name));
                let c = g.add_const(tmp, t, v.ty.quant.clone());
                g.replace_all_uses(ValueRef { node: n, output: k }, c);
                replacements.push((c, v.name.clone()));
            }
            g.remove_node(n);
            for (c, name) in replacements {
                let node = g.node_mut(c.node);
                node.name = name.clone();
                node.outputs[0].name = name;
            }
            changed = true;
        }
        Ok(changed)
    }
}
