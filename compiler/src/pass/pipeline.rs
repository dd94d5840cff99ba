//! Pipelines: an ordered list of passes, run with verification and IR dumps.

use super::{Pass, Registry};
use crate::ir::text::{print_graph, PrintOptions};
use crate::ir::{verify, Graph};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One entry of a pipeline file: a bare pass name, or a name with options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PassSpec {
    Name(String),
    WithOptions {
        name: String,
        #[serde(default)]
        options: serde_yaml_ng::Value,
    },
}

impl PassSpec {
    fn parts(&self) -> (&str, serde_yaml_ng::Value) {
        match self {
            PassSpec::Name(n) => (n, serde_yaml_ng::Value::Null),
            PassSpec::WithOptions { name, options } => (name, options.clone()),
        }
    }
}

/// A pipeline file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    #[serde(default)]
    pub name: String,
    pub passes: Vec<PassSpec>,
}

impl PipelineSpec {
    /// Parses a pipeline from YAML text.
    pub fn from_yaml(text: &str) -> Result<Self> {
        serde_yaml_ng::from_str(text).map_err(|e| Error::new(format!("invalid pipeline: {e}")))
    }
}

/// Which passes dump the IR after running.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PrintAfter {
    #[default]
    None,
    All,
    Names(Vec<String>),
}

/// How a pipeline runs.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Verify the graph after every pass (always on in debug builds).
    pub verify: bool,
    pub print_after: PrintAfter,
    /// How dumps print constants.
    pub print_options: PrintOptions,
}

/// A pass's own statistics of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct PassStats {
    /// Human-readable lines.
    pub text: String,
    /// The same figures for tools.
    pub json: serde_json::Value,
}

/// What one pass did.
#[derive(Clone, Debug, PartialEq)]
pub struct PassRecord {
    pub pass: &'static str,
    pub changed: bool,
    pub nodes_before: usize,
    pub nodes_after: usize,
    pub micros: u128,
    /// The IR after the pass, when requested by [`PrintAfter`].
    pub dump: Option<String>,
    /// The pass's own statistics, when it keeps any.
    pub stats: Option<PassStats>,
}

/// An instantiated pipeline.
pub struct Pipeline {
    pub name: String,
    passes: Vec<Box<dyn Pass>>,
}

impl Pipeline {
    /// Instantiates `spec` with passes from `registry`.
    pub fn from_spec(spec: &PipelineSpec, registry: &Registry) -> Result<Self> {
        let passes = spec
            .passes
            .iter()
            .map(|p| {
                let (name, options) = p.parts();
                registry.create(name, &options)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Pipeline {
            name: spec.name.clone(),
            passes,
        })
    }

    /// Pass names in order.
    pub fn pass_names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    /// Runs every pass in order; verifies after each when asked (or in debug builds). A
    /// name to print after that is not a pass of this pipeline is an error.
    pub fn run(&self, g: &mut Graph, opts: &RunOptions) -> Result<Vec<PassRecord>> {
        if let PrintAfter::Names(names) = &opts.print_after {
            let passes = self.pass_names();
            if let Some(bad) = names.iter().find(|n| !passes.contains(&n.as_str())) {
                return Err(Error::new(format!(
                    "--print-after {bad}: pipeline '{}' has no such pass (its passes: {})",
                    self.name,
                    passes.join(", ")
                )));
            }
        }
        let check = opts.verify || cfg!(debug_assertions);
        if check {
            verify(g).map_err(|e| Error::new(format!("input graph is invalid: {e}")))?;
        }
        let mut records = vec![];
        for p in &self.passes {
            let nodes_before = g.node_count();
            let start = Instant::now();
            let changed = p.run(g).map_err(|e| Error {
                message: format!("pass '{}': {}", p.name(), e.message),
                ..e
            })?;
            let micros = start.elapsed().as_micros();
            if check {
                verify(g).map_err(|e| {
                    Error::new(format!("graph invalid after pass '{}': {e}", p.name()))
                })?;
            }
            let dump = match &opts.print_after {
                PrintAfter::All => true,
                PrintAfter::Names(n) => n.iter().any(|n| n == p.name()),
                PrintAfter::None => false,
            }
            .then(|| print_graph(g, &opts.print_options));
            records.push(PassRecord {
                pass: p.name(),
                changed,
                nodes_before,
                nodes_after: g.node_count(),
                micros,
                dump,
                stats: p.stats(),
            });
        }
        Ok(records)
    }
}
