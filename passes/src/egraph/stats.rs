//! What one `egraph-optimize` run did.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Statistics of one run: e-graph size, iterations, why it stopped, how often each rule
/// fired, and the cost before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EGraphStats {
    /// The cost model used for extraction.
    pub cost_model: String,
    pub iterations: usize,
    pub egraph_nodes: usize,
    pub egraph_classes: usize,
    pub stop_reason: String,
    /// Unions each rule made, by rule name (rules that never fired are absent).
    pub rule_hits: BTreeMap<String, usize>,
    pub cost_before: f64,
    pub cost_after: f64,
    /// Ops (not counting inputs and constants) before and after.
    pub ops_before: usize,
    pub ops_after: usize,
    /// The extracted graph was not cheaper, so the source graph was kept.
    pub kept_original: bool,
    /// Wall time of the whole pass.
    pub millis: f64,
}

impl EGraphStats {
    /// The human-readable form, without the wall time (so that it can be snapshotted).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let ratio = if self.cost_before > 0.0 {
            self.cost_after / self.cost_before
        } else {
            1.0
        };
        let _ = writeln!(
            s,
            "e-graph: {} nodes, {} classes after {} iterations; stopped: {}",
            self.egraph_nodes, self.egraph_classes, self.iterations, self.stop_reason
        );
        let _ = writeln!(
            s,
            "ops: {} -> {}; cost ({}): {:.0} -> {:.0} ({:.3}x){}",
            self.ops_before,
            self.ops_after,
            self.cost_model,
            self.cost_before,
            self.cost_after,
            ratio,
            if self.kept_original {
                "; kept the source graph"
            } else {
                ""
            }
        );
        if self.rule_hits.is_empty() {
            let _ = writeln!(s, "rules: none fired");
        } else {
            let hits: Vec<String> = self
                .rule_hits
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let _ = writeln!(s, "rules: {}", hits.join(", "));
        }
        s
    }
}
