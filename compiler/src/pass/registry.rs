//! Passes by name.

use super::Pass;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Builds a pass from its YAML options (`Null` when none were given).
pub type PassFactory = Arc<dyn Fn(&serde_yaml_ng::Value) -> Result<Box<dyn Pass>> + Send + Sync>;

/// A set of passes that pipelines can name.
#[derive(Default, Clone)]
pub struct Registry {
    entries: BTreeMap<&'static str, (&'static str, PassFactory)>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a pass under `name` with a one-line description; a later registration
    /// of the same name replaces the earlier one.
    pub fn register(
        &mut self,
        name: &'static str,
        description: &'static str,
        factory: impl Fn(&serde_yaml_ng::Value) -> Result<Box<dyn Pass>> + Send + Sync + 'static,
    ) {
        self.entries.insert(name, (description, Arc::new(factory)));
    }

    /// Creates the pass `name` with `options`.
    pub fn create(&self, name: &str, options: &serde_yaml_ng::Value) -> Result<Box<dyn Pass>> {
        let (_, factory) = self.entries.get(name).ok_or_else(|| {
            Error::new(format!(
                "unknown pass '{name}' (known: {})",
                self.entries.keys().copied().collect::<Vec<_>>().join(", ")
            ))
        })?;
        factory(options).map_err(|e| Error::new(format!("pass '{name}': {}", e.message)))
    }

    /// Names and descriptions of all registered passes, sorted by name.
    pub fn list(&self) -> Vec<(&'static str, &'static str)> {
        self.entries.iter().map(|(n, (d, _))| (*n, *d)).collect()
    }
}
