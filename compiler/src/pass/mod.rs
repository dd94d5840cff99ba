//! The pass manager: the [`Pass`] trait, a registry of passes by name, and pipelines
//! written in YAML.
//!
//! ```yaml
//! name: default
//! passes:
//!   - identity-removal
//!   - name: constant-folding
//!     options: { max_elements: 1048576 }
//!   - dead-node-elimination
//! ```

mod pipeline;
mod registry;

pub use pipeline::{
    PassRecord, PassSpec, PassStats, Pipeline, PipelineSpec, PrintAfter, RunOptions,
};
pub use registry::{PassFactory, Registry};

use crate::ir::Graph;
use crate::Result;

/// A graph transformation.
pub trait Pass {
    /// The name used in pipelines and dumps.
    fn name(&self) -> &'static str;
    /// Transforms the graph; returns whether anything changed.
    fn run(&self, g: &mut Graph) -> Result<bool>;
    /// Statistics of the most recent [`Pass::run`], for `--stats`, `--json` and
    /// snapshots; passes without statistics return `None`.
    fn stats(&self) -> Option<PassStats> {
        None
    }
}
