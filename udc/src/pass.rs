//! The `udc-search` pass: [`compress`] in a pipeline. It turns a float graph into the
//! int8 graph of the searched plan, trained on the data its options name:
//!
//! ```yaml
//! passes:
//!   - name: udc-search
//!     options: { budget: 2000, data: digits.csv.gz, epochs: 20, finetune_epochs: 20, learning_rate: 0.005 }
//! ```
//!
//! Options: `budget` (encoded weight bytes, required), `data` (a CSV file) or `data_dir`
//! (an IDX directory), `epochs` (search, 4), `warmup_epochs` (0), `finetune_epochs` (3),
//! `learning_rate` (0.01), `batch` (16), `seed` (0). No baselines run in a pipeline.

use crate::compress::{compress, CompressRequest};
use crate::size::SizeOracle;
use crate::{Progress, SearchOptions};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::{Pass, PassStats};
use nnopt_compiler::{Error, Result};
use nnopt_train::data::{load_csv, load_idx_dir};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A size oracle shared with the pipeline's registry.
pub type SharedOracle = Arc<dyn Fn(&Graph) -> Result<Vec<(String, usize)>> + Send + Sync>;

/// Options of [`UdcSearch`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    budget: usize,
    data: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    #[serde(default = "defaults::epochs")]
    epochs: usize,
    #[serde(default)]
    warmup_epochs: usize,
    #[serde(default = "defaults::finetune_epochs")]
    finetune_epochs: usize,
    #[serde(default = "defaults::learning_rate")]
    learning_rate: f32,
    #[serde(default = "defaults::batch")]
    batch: usize,
    #[serde(default)]
    seed: u64,
}

mod defaults {
    pub fn epochs() -> usize {
        4
    }
    pub fn finetune_epochs() -> usize {
        3
    }
    pub fn learning_rate() -> f32 {
        0.01
    }
    pub fn batch() -> usize {
        16
    }
}

/// The pass.
pub struct UdcSearch {
    options: Options,
    oracle: SharedOracle,
    /// Before and after of the last run: dense int8 and searched bytes and accuracy.
    last: Mutex<Option<PassStats>>,
}

impl UdcSearch {
    pub const NAME: &'static str = "udc-search";
    pub const DESCRIPTION: &'static str = "search per-layer weight bits and sparsity under a budget of encoded weight bytes, trained on data (options: budget, data or data_dir, epochs, warmup_epochs, finetune_epochs, learning_rate, batch, seed)";

    /// The pass from pipeline options, counting bytes with `oracle`.
    pub fn from_options(options: &serde_yaml_ng::Value, oracle: SharedOracle) -> Result<Self> {
        let options: Options = serde_yaml_ng::from_value(options.clone())
            .map_err(|e| Error::new(format!("invalid options of {}: {e}", Self::NAME)))?;
        if options.data.is_some() == options.data_dir.is_some() {
            return Err(Error::new(format!(
                "{} needs one of the options data (a CSV file) and data_dir (IDX files)",
                Self::NAME
            )));
        }
        use nnopt_passes::options::{at_most, MAX_BATCH, MAX_EPOCHS};
        at_most(
            Self::NAME,
            &[
                ("epochs", options.epochs, MAX_EPOCHS),
                ("warmup_epochs", options.warmup_epochs, MAX_EPOCHS),
                ("finetune_epochs", options.finetune_epochs, MAX_EPOCHS),
                ("batch", options.batch, MAX_BATCH),
            ],
        )?;
        if options.batch == 0 || options.budget == 0 {
            return Err(Error::new(format!(
                "{}: budget and batch must be positive",
                Self::NAME
            )));
        }
        Ok(UdcSearch {
            options,
            oracle,
            last: Mutex::new(None),
        })
    }
}

impl Pass for UdcSearch {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let o = &self.options;
        let data = match (&o.data, &o.data_dir) {
            (Some(csv), _) => load_csv(csv)?,
            (None, Some(dir)) => load_idx_dir(dir)?,
            (None, None) => unreachable!("checked by from_options"),
        };
        let req = CompressRequest {
            search: SearchOptions {
                search_epochs: o.epochs,
                finetune_epochs: o.finetune_epochs,
                ..SearchOptions::new(o.budget)
            },
            warmup_epochs: o.warmup_epochs,
            batch: o.batch,
            learning_rate: o.learning_rate,
            baselines: false,
            seed: o.seed,
        };
        let oracle: &SizeOracle = &*self.oracle;
        let c = compress(g, &data, &req, oracle, &Progress::silent())?;
        let r = &c.report;
        let text = format!(
            "dense int8 {} bytes, {:.2} % -> {} bytes, {:.2} % (budget {})",
            r.before.bytes,
            100.0 * r.before.accuracy,
            r.after.bytes,
            100.0 * r.after.accuracy,
            r.budget
        );
        let json = serde_json::json!({
            "budget": r.budget,
            "before": r.before,
            "after": r.after,
            "layers": r.layers,
        });
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(PassStats { text, json });
        *g = c.graph;
        Ok(true)
    }

    fn stats(&self) -> Option<PassStats> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
