//! Removes nodes that no graph output depends on.

use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;
use std::collections::HashSet;

/// Removes every node not reachable backwards from a graph output. Graph inputs stay.
pub struct DeadNodeElimination;

impl DeadNodeElimination {
    pub const NAME: &'static str = "dead-node-elimination";
}

impl Pass for DeadNodeElimination {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut live = HashSet::new();
        let mut stack: Vec<_> = g.outputs().iter().map(|v| v.node).collect();
        while let Some(n) = stack.pop() {
            if live.insert(n) {
                stack.extend(g.node_inputs(n).into_iter().map(|v| v.node));
            }
        }
        let inputs: HashSet<_> = g.inputs().iter().copied().collect();
        let dead: Vec<_> = g
            .node_indices()
            .into_iter()
            .filter(|n| !live.contains(n) && !inputs.contains(n))
            .collect();
        for &n in &dead {
            g.remove_node(n);
        }
        Ok(!dead.is_empty())
    }
}
