//! The `fixynn-partition` pass: the split search in a pipeline. It turns a float
//! classifier into the int8 model deployed for the first task (the hard-wired
//! front-end, then that task's back-end):
//!
//! ```yaml
//! passes:
//!   - name: fixynn-partition
//!     options: { tasks: [digits.csv.gz], task_dirs: ["fashion-mnist:5,7,8,9"], epochs: 3 }
//! ```
//!
//! Options: `tasks` (CSV files) and `task_dirs` (IDX directories), each `PATH` or
//! `PATH:C1,C2,…`; `split` (`auto` or a tensor name), `area_budget` (mm²), `max_loss`
//! (points, 1.0), `epochs` (3), `learning_rate` (0.01), `batch` (16), `seed` (0),
//! `max_train_rows` (0: all). `nnopt fixynn` runs the same search and writes the
//! hardware.

use crate::partition::{partition, PartitionOptions};
use crate::split::join;
use crate::tasks::{load_task, TaskSource};
use crate::transfer::{graph_input_shape, TrainOptions};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::{Pass, PassStats};
use nnopt_compiler::{Error, Result};
use nnopt_udc::Progress;
use serde::Deserialize;
use std::sync::Mutex;

/// Options of [`FixynnPartition`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    tasks: Vec<String>,
    #[serde(default)]
    task_dirs: Vec<String>,
    #[serde(default = "defaults::split")]
    split: String,
    area_budget: Option<f64>,
    #[serde(default = "defaults::max_loss")]
    max_loss: f64,
    #[serde(default = "defaults::epochs")]
    epochs: usize,
    #[serde(default = "defaults::learning_rate")]
    learning_rate: f32,
    #[serde(default = "defaults::batch")]
    batch: usize,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    max_train_rows: usize,
}

mod defaults {
    pub fn split() -> String {
        "auto".to_string()
    }
    pub fn max_loss() -> f64 {
        1.0
    }
    pub fn epochs() -> usize {
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
pub struct FixynnPartition {
    sources: Vec<TaskSource>,
    options: PartitionOptions,
    last: Mutex<Option<PassStats>>,
}

impl FixynnPartition {
    pub const NAME: &'static str = "fixynn-partition";
    pub const DESCRIPTION: &'static str = "split a float classifier into a hard-wired int8 front-end and a transfer-learned back-end, searched over tasks; the graph becomes the first task's int8 model (options: tasks, task_dirs, split, area_budget, max_loss, epochs, learning_rate, batch, seed, max_train_rows)";

    /// The pass from pipeline options.
    pub fn from_options(options: &serde_yaml_ng::Value) -> Result<Self> {
        let o: Options = serde_yaml_ng::from_value(options.clone())
            .map_err(|e| Error::new(format!("invalid options of {}: {e}", Self::NAME)))?;
        let mut sources = Vec::new();
        for t in &o.tasks {
            sources.push(TaskSource::parse(t, false)?);
        }
        for t in &o.task_dirs {
            sources.push(TaskSource::parse(t, true)?);
        }
        if sources.is_empty() {
            return Err(Error::new(format!(
                "{} needs tasks or task_dirs",
                Self::NAME
            )));
        }
        use nnopt_passes::options::{at_most, MAX_BATCH, MAX_EPOCHS};
        at_most(
            Self::NAME,
            &[
                ("epochs", o.epochs, MAX_EPOCHS),
                ("batch", o.batch, MAX_BATCH),
            ],
        )?;
        if o.batch == 0 || o.area_budget.is_some_and(|a| !(a.is_finite() && a > 0.0)) {
            return Err(Error::new(format!(
                "{}: batch must be positive and area_budget a positive area",
                Self::NAME
            )));
        }
        Ok(FixynnPartition {
            sources,
            options: PartitionOptions {
                split: (o.split != "auto").then_some(o.split),
                area_budget: o.area_budget,
                max_loss_points: o.max_loss,
                train: TrainOptions {
                    epochs: o.epochs,
                    learning_rate: o.learning_rate,
                    batch: o.batch,
                    seed: o.seed,
                    max_train_rows: o.max_train_rows,
                },
                ..PartitionOptions::default()
            },
            last: Mutex::new(None),
        })
    }
}

impl Pass for FixynnPartition {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        if nnopt_passes::quantize_int8::is_quantized(g) {
            return Err(Error::new(format!(
                "{} needs a float model (it trains back-ends and quantizes itself)",
                Self::NAME
            )));
        }
        let input = graph_input_shape(g)?;
        let tasks = self
            .sources
            .iter()
            .map(|s| load_task(s, &input))
            .collect::<Result<Vec<_>>>()?;
        let p = partition(g, &tasks, &self.options, &Progress::silent())?;
        let point = &p.points[p.chosen];
        let text = format!(
            "split at {} ({} layers): energy {:.2}x all-programmable, front-end {:.4} mm2, max loss {:.2} points",
            point.split,
            point.layers,
            point.ppa.energy_efficiency_ratio,
            point.ppa.fixed_area_mm2,
            point.max_loss_points
        );
        let json =
            serde_json::json!({ "chosen": point, "points": p.points, "full_fine_tune": p.full });
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(PassStats { text, json });
        *g = join(&p.frontend, &p.backends[0])?;
        Ok(true)
    }

    fn stats(&self) -> Option<PassStats> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
