//! `egraph-optimize`: graph optimization by equality saturation with
//! [egg](https://egraphs-good.github.io/).
//!
//! The graph becomes an e-graph (every op an e-node; constants and shapes known to the
//! analysis, which also folds constant subexpressions), the rule set ([`rules`]) runs
//! until saturation or a node, iteration or time limit, and the cheapest equivalent
//! graph under an [`OpCost`] is extracted. The result replaces the graph only when its
//! cost is lower, so the pass never makes a graph worse by its cost model.

mod analysis;
mod extract;
mod language;
mod rule;
mod rules;
mod stats;

pub use stats::EGraphStats;

use crate::options;
use egg::{Runner, StopReason};
use nnopt_compiler::cost::{graph_cost, DefaultCost, OpCost};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::{Pass, PassStats};
use nnopt_compiler::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `egraph-optimize` (all optional in pipelines).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EGraphOptions {
    /// Stop when the e-graph has this many e-nodes.
    pub node_limit: usize,
    /// Stop after this many iterations.
    pub iter_limit: usize,
    /// Stop after this much time (a safety net; the other limits keep runs
    /// deterministic).
    pub time_limit_ms: u64,
    /// Constant subexpressions with more elements are not folded.
    pub fold_limit: usize,
    /// The rule families to run (all when empty): algebra, layout, batchnorm, pad,
    /// gemm, activation, concat.
    pub rules: Vec<String>,
}

impl Default for EGraphOptions {
    fn default() -> Self {
        EGraphOptions {
            node_limit: 20_000,
            iter_limit: 30,
            time_limit_ms: 10_000,
            fold_limit: 1 << 22,
            rules: vec![],
        }
    }
}

/// The `egraph-optimize` pass.
pub struct EGraphOptimize {
    options: EGraphOptions,
    cost: Arc<dyn OpCost>,
    last: Mutex<Option<EGraphStats>>,
}

impl EGraphOptimize {
    pub const NAME: &'static str = "egraph-optimize";

    /// The rule family names, in order.
    pub fn families() -> Vec<&'static str> {
        rules::families().into_iter().map(|(n, _)| n).collect()
    }

    /// The pass with `options`, extracting by `cost`.
    pub fn new(options: EGraphOptions, cost: Arc<dyn OpCost>) -> Result<Self> {
        let known = Self::families();
        if let Some(bad) = options.rules.iter().find(|r| !known.contains(&r.as_str())) {
            return Err(Error::new(format!(
                "unknown rule family '{bad}' (known: {})",
                known.join(", ")
            )));
        }
        Ok(EGraphOptimize {
            options,
            cost,
            last: Mutex::new(None),
        })
    }

    /// Builds the pass from pipeline options, extracting by `cost`.
    pub fn from_options(o: &serde_yaml_ng::Value, cost: Arc<dyn OpCost>) -> Result<Self> {
        let o: EGraphOptions = options::parse(o)?;
        let ms = usize::try_from(o.time_limit_ms).unwrap_or(usize::MAX);
        options::at_most(
            Self::NAME,
            &[
                ("node_limit", o.node_limit, 10_000_000),
                ("iter_limit", o.iter_limit, 100_000),
                ("time_limit_ms", ms, 24 * 3_600_000),
                ("fold_limit", o.fold_limit, 1 << 28),
            ],
        )?;
        Self::new(o, cost)
    }

    /// The pass with default options and the default cost.
    pub fn with_defaults() -> Self {
        Self::new(EGraphOptions::default(), Arc::new(DefaultCost)).expect("defaults are valid")
    }

    /// Statistics of the most recent run.
    pub fn last_stats(&self) -> Option<EGraphStats> {
        self.last.lock().ok()?.clone()
    }

    fn rewrites(&self) -> Vec<egg::Rewrite<language::TensorNode, analysis::TensorAnalysis>> {
        rules::families()
            .into_iter()
            .filter(|(name, _)| {
                self.options.rules.is_empty() || self.options.rules.iter().any(|r| r == name)
            })
            .flat_map(|(_, rules)| rules)
            .map(rule::to_rewrite)
            .collect()
    }
}

fn stop_reason(r: Option<&StopReason>) -> String {
    match r {
        Some(StopReason::Saturated) => "saturated".into(),
        Some(StopReason::IterationLimit(n)) => format!("iteration limit ({n})"),
        Some(StopReason::NodeLimit(n)) => format!("node limit ({n})"),
        Some(StopReason::TimeLimit(s)) => format!("time limit ({s} s)"),
        Some(StopReason::Other(s)) => s.clone(),
        None => "not run".into(),
    }
}

/// Ops (nodes other than inputs and constants) of a graph.
fn op_count(g: &Graph) -> usize {
    g.node_indices()
        .into_iter()
        .filter(|&n| !g.node(n).op.is_source())
        .count()
}

impl Pass for EGraphOptimize {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let start = Instant::now();
        let model = self.cost.as_ref();
        let (egraph, skeleton) = extract::to_egraph(g, self.options.fold_limit)?;
        let runner = Runner::default()
            .with_egraph(egraph)
            .with_node_limit(self.options.node_limit)
            .with_iter_limit(self.options.iter_limit)
            .with_time_limit(Duration::from_millis(self.options.time_limit_ms))
            .run(&self.rewrites());
        let mut rule_hits: BTreeMap<String, usize> = BTreeMap::new();
        for it in &runner.iterations {
            for (rule, n) in &it.applied {
                *rule_hits.entry(rule.to_string()).or_default() += n;
            }
        }
        let extracted = extract::to_graph(&runner.egraph, &skeleton, model)?.compacted();
        let (cost_before, cost_after) = (graph_cost(g, model), graph_cost(&extracted, model));
        let improved = cost_after < cost_before;
        let stats = EGraphStats {
            cost_model: model.name().to_string(),
            iterations: runner.iterations.len(),
            egraph_nodes: runner.egraph.total_number_of_nodes(),
            egraph_classes: runner.egraph.number_of_classes(),
            stop_reason: stop_reason(runner.stop_reason.as_ref()),
            rule_hits,
            cost_before,
            cost_after: if improved { cost_after } else { cost_before },
            ops_before: op_count(g),
            ops_after: op_count(if improved { &extracted } else { g }),
            kept_original: !improved,
            millis: start.elapsed().as_secs_f64() * 1e3,
        };
        if improved {
            *g = extracted;
        }
        if let Ok(mut last) = self.last.lock() {
            *last = Some(stats);
        }
        Ok(improved)
    }

    fn stats(&self) -> Option<PassStats> {
        let s = self.last_stats()?;
        Some(PassStats {
            text: s.to_text(),
            json: serde_json::to_value(&s).ok()?,
        })
    }
}
