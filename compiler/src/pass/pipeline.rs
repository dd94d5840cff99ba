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
    /// Parses a pipeline from YAML text (at most [`MAX_PIPELINE_BYTES`], nested at most
    /// [`MAX_NESTING`] deep, checked before parsing).
    pub fn from_yaml(text: &str) -> Result<Self> {
        if text.len() > MAX_PIPELINE_BYTES {
            return Err(Error::new(format!(
                "invalid pipeline: {} bytes, more than the {MAX_PIPELINE_BYTES}-byte limit",
                text.len()
            )));
        }
        if let Some(line) = too_deep(text) {
            return Err(Error::new(format!(
                "invalid pipeline: line {line} is nested more than {MAX_NESTING} levels deep"
            )));
        }
        serde_yaml_ng::from_str(text).map_err(|e| Error::new(format!("invalid pipeline: {e}")))
    }
}

/// The longest pipeline file read.
pub const MAX_PIPELINE_BYTES: usize = 1 << 20;
/// The deepest nesting of a pipeline file in flow brackets; block indentation (with the
/// dashes of compact sequences) may take up to four columns a level.
pub const MAX_NESTING: usize = 64;

/// The first line (1-based) nested deeper than [`MAX_NESTING`], if any: a YAML parser's
/// time and stack grow with nesting, so deep files are refused before parsing.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, line) in text.lines().enumerate() {
        // Quoted scalars of pipeline files do not span lines.
        let mut quote = None;
        let indent = line.len() - line.trim_start_matches([' ', '\t', '-']).len();
        if quote.is_none() && depth == 0 && indent > 4 * MAX_NESTING {
            return Some(i + 1);
        }
        for c in line.chars() {
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '#') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(i + 1);
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_or_huge_files_are_refused_quickly() {
        let spec = PipelineSpec::from_yaml("passes:\n  - {name: a, options: {x: [1, 2]}}\n");
        assert_eq!(spec.unwrap().passes.len(), 1);
        let start = Instant::now();
        let flow = format!("passes: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = PipelineSpec::from_yaml(&flow).unwrap_err().to_string();
        assert!(
            err.contains("line 1 is nested more than 64 levels"),
            "{err}"
        );
        let block: String = (0..300).map(|i| format!("{}- \n", " ".repeat(i))).collect();
        let err = PipelineSpec::from_yaml(&format!("passes:\n{block}")).unwrap_err();
        assert!(err.to_string().contains("nested more than"), "{err}");
        let compact = format!("passes:\n  {}x\n", "- ".repeat(100_000));
        assert!(PipelineSpec::from_yaml(&compact).is_err());
        let huge = format!("passes: []\n#{}", "x".repeat(MAX_PIPELINE_BYTES));
        assert!(PipelineSpec::from_yaml(&huge)
            .unwrap_err()
            .to_string()
            .contains("limit"));
        // Brackets in quotes and comments do not count.
        let quoted = format!(
            "passes: [] # {}\nname: '{}'\n",
            "[".repeat(99),
            "{".repeat(99)
        );
        assert!(PipelineSpec::from_yaml(&quoted).is_ok());
        assert!(start.elapsed().as_secs() < 5);
    }
}
