//! The predictor as an [`OpCost`]: each op is priced as a one-operator network on a
//! device (its int8 form: the predictor learned int8 graphs), so the e-graph optimizer
//! can extract by learned cycles or CPU latency. Prices are cached by the op's features.

use crate::device::Device;
use crate::features::{site_features, GraphFeatures, Precision};
use crate::predictor::Predictor;
use nnopt_compiler::cost::{OpCost, OpSite};
use nnopt_compiler::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Learned op costs for one device.
pub struct LearnedCost {
    name: String,
    predictor: Arc<Predictor>,
    output: usize,
    cache: Mutex<HashMap<String, f64>>,
}

impl LearnedCost {
    /// Costs from `predictor` for `device`; an error when the predictor has not learned
    /// the device.
    pub fn new(predictor: Arc<Predictor>, device: &Device) -> Result<LearnedCost> {
        let target = device.cost_target();
        let output = predictor.target_index(&target).ok_or_else(|| {
            Error::new(format!(
                "the cost model has not learned '{target}' (it has {})",
                predictor.targets().join(", ")
            ))
        })?;
        Ok(LearnedCost {
            name: format!("learned:{}", device.name),
            predictor,
            output,
            cache: Mutex::new(HashMap::new()),
        })
    }
}

impl LearnedCost {
    /// The predictor output these costs read.
    pub fn output(&self) -> usize {
        self.output
    }
}

impl OpCost for LearnedCost {
    fn name(&self) -> &str {
        &self.name
    }

    fn op_cost(&self, site: &OpSite<'_>) -> f64 {
        if site.op.is_source() {
            return 0.0;
        }
        let node = site_features("op", site, Precision::Int8);
        let key = serde_json::to_string(&node).expect("features serialize");
        if let Some(&c) = self.cache.lock().expect("cache lock").get(&key) {
            return c;
        }
        let graph = GraphFeatures {
            nodes: vec![node],
            edges: Vec::new(),
        };
        let cost = self
            .predictor
            .predict(&[&graph])
            .ok()
            .and_then(|e| e.first().map(|e| e.totals[self.output]))
            .filter(|c| c.is_finite() && *c >= 0.0)
            .unwrap_or(f64::INFINITY);
        self.cache.lock().expect("cache lock").insert(key, cost);
        cost
    }
}
