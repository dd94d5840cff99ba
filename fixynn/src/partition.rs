//! The split search: for each candidate split, every task's back-end is trained on the
//! frozen int8 front-end's features and compared with fine-tuning the whole network for
//! that task; the front-end is priced as hard-wired silicon and the back-end on the
//! programmable accelerator. The chosen split saves the most energy among those within
//! the area budget whose every task loses less than the accuracy tolerance.

use crate::head::with_fresh_head;
use crate::split::{back, candidates, front};
use crate::tasks::Task;
use crate::transfer::{
    features, fine_tune, graph_input_shape, train_int8, train_rows, TrainOptions,
};
use nnopt_backends::fixed_frontend::ppa::{compare, frontend_ppa, PpaConstants, SystemPpa};
use nnopt_backends::fixed_frontend::FixedFrontend;
use nnopt_compiler::analysis::node_macs;
use nnopt_compiler::ir::{Graph, Tensor};
use nnopt_compiler::{bail, Result};
use nnopt_passes::{quantize_int8, Calibration, QuantizeOptions};
use nnopt_udc::Progress;
use serde::Serialize;

/// What the search is asked for.
#[derive(Clone, Debug)]
pub struct PartitionOptions {
    /// One split tensor to evaluate, or every candidate when `None`.
    pub split: Option<String>,
    /// Largest front-end area (mm², by the analytic model).
    pub area_budget: Option<f64>,
    /// Largest accuracy loss (points) against full fine-tuning, for every task.
    pub max_loss_points: f64,
    pub train: TrainOptions,
    pub ppa: PpaConstants,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            split: None,
            area_budget: None,
            max_loss_points: 1.0,
            train: TrainOptions::default(),
            ppa: PpaConstants::default(),
        }
    }
}

/// One task at one split.
#[derive(Clone, Debug, Serialize)]
pub struct TaskAtSplit {
    pub task: String,
    /// Int8 accuracy of the frozen front-end + trained back-end.
    pub accuracy: f64,
    /// Full fine-tuning's accuracy minus this, in points.
    pub loss_points: f64,
}

/// One candidate split.
#[derive(Clone, Debug, Serialize)]
pub struct SplitPoint {
    /// The split tensor (the front-end's output).
    pub split: String,
    /// Convolutions in the front-end.
    pub layers: usize,
    pub tasks: Vec<TaskAtSplit>,
    pub mean_loss_points: f64,
    pub max_loss_points: f64,
    /// Fixed + programmable against all-programmable (the back-end MACs are the mean
    /// over tasks: heads differ in size).
    pub ppa: SystemPpa,
    pub within_area_budget: bool,
    /// No other point has lower mean loss, higher energy efficiency and lower area all
    /// at once (with one strictly better).
    pub pareto: bool,
}

/// Each task's reference: the whole network fine-tuned.
#[derive(Clone, Debug, Serialize)]
pub struct FullFineTune {
    pub task: String,
    pub classes: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    pub accuracy: f64,
}

/// The search's result.
#[derive(Clone, Debug)]
pub struct Partition {
    pub points: Vec<SplitPoint>,
    pub full: Vec<FullFineTune>,
    /// Index of the chosen point in `points`.
    pub chosen: usize,
    /// Why that point (the rule it met).
    pub reason: String,
    /// The int8 source model whose prefixes are the front-ends.
    pub quantized: Graph,
    /// The chosen split's int8 front-end and, per task, its int8 back-end.
    pub frontend: Graph,
    pub backends: Vec<Graph>,
}

/// Rows of each task the shared front-end is calibrated on.
const CALIBRATION_PER_TASK: usize = 32;

/// The source model quantized to int8 once, calibrated on all tasks, so every split's
/// front-end is a prefix of the same silicon.
pub fn quantize_shared(g: &Graph, tasks: &[Task]) -> Result<Graph> {
    let input = graph_input_shape(g)?;
    let mut samples: Vec<Vec<Tensor>> = Vec::new();
    for t in tasks {
        for r in train_rows(&t.data, CALIBRATION_PER_TASK) {
            samples.push(vec![t.data.samples.batch(&[r], &input)?.0]);
        }
    }
    let mut q = g.clone();
    quantize_int8(
        &mut q,
        &Calibration::new(samples),
        &QuantizeOptions::default(),
    )?;
    Ok(q)
}

/// Runs the split search of float model `g` over `tasks`.
pub fn partition(
    g: &Graph,
    tasks: &[Task],
    opts: &PartitionOptions,
    progress: &Progress,
) -> Result<Partition> {
    if tasks.is_empty() {
        bail!("the split search needs at least one task");
    }
    let all = candidates(g)?;
    let splits = match &opts.split {
        Some(s) if all.contains(s) => vec![s.clone()],
        Some(s) => bail!(
            "'{s}' is not a split point; the candidates are the convolution outputs on the \
             chain from the input: {}",
            all.join(", ")
        ),
        None => all,
    };
    if splits.is_empty() {
        bail!("the model has no split point: it must start with a chain of convolutions");
    }
    let quantized = quantize_shared(g, tasks)?;
    let mut full = Vec::new();
    for t in tasks {
        progress.stage(&format!("full fine-tune: {}", t.name), 0);
        let trained = fine_tune(g, t, &opts.train, progress)?;
        full.push(FullFineTune {
            task: t.name.clone(),
            classes: t.data.classes,
            train_rows: train_rows(&t.data, opts.train.max_train_rows).len(),
            test_rows: t.data.test_rows.len(),
            accuracy: trained.accuracy,
        });
    }
    let mut points = Vec::new();
    let mut graphs = Vec::new();
    for split in &splits {
        let fe_graph = front(&quantized, split)?;
        let fe = FixedFrontend::from_graph(&fe_graph)?;
        let fe_ppa = frontend_ppa(&fe, &opts.ppa);
        let mut results = Vec::new();
        let mut backends = Vec::new();
        let mut backend_macs = 0u64;
        for (t, reference) in tasks.iter().zip(&full) {
            progress.stage(&format!("back-end after {split}: {}", t.name), 0);
            let feats = features(&fe_graph, &t.data)?;
            let (headed, head) = with_fresh_head(g, t.data.classes, opts.train.seed)?;
            let b = back(&headed, split)?;
            backend_macs += b
                .node_indices()
                .into_iter()
                .map(|n| node_macs(&b, n))
                .sum::<u64>();
            let trained = train_int8(&b, &head, &feats, &opts.train, progress)?;
            results.push(TaskAtSplit {
                task: t.name.clone(),
                accuracy: trained.accuracy,
                loss_points: 100.0 * (reference.accuracy - trained.accuracy),
            });
            backends.push(trained.int8);
        }
        let backend_macs = backend_macs / tasks.len() as u64;
        let ppa = compare(
            fe_ppa.area_mm2,
            fe_ppa.joules_per_inference,
            fe_ppa.seconds_per_inference,
            fe_ppa.macs,
            backend_macs,
            &opts.ppa,
        );
        let losses: Vec<f64> = results.iter().map(|r| r.loss_points).collect();
        points.push(SplitPoint {
            split: split.clone(),
            layers: fe.layers.len(),
            mean_loss_points: losses.iter().sum::<f64>() / losses.len() as f64,
            max_loss_points: losses.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            tasks: results,
            within_area_budget: opts.area_budget.is_none_or(|b| ppa.fixed_area_mm2 <= b),
            ppa,
            pareto: false,
        });
        graphs.push((fe_graph, backends));
    }
    mark_pareto(&mut points);
    let (chosen, reason) = choose(&points, opts);
    let (frontend, backends) = graphs.swap_remove(chosen);
    Ok(Partition {
        points,
        full,
        chosen,
        reason,
        quantized,
        frontend,
        backends,
    })
}

/// Marks the points no other point dominates in (mean loss, energy ratio, area).
fn mark_pareto(points: &mut [SplitPoint]) {
    let key = |p: &SplitPoint| {
        (
            p.mean_loss_points,
            -p.ppa.energy_efficiency_ratio,
            p.ppa.fixed_area_mm2,
        )
    };
    let keys: Vec<_> = points.iter().map(key).collect();
    for (i, p) in points.iter_mut().enumerate() {
        let a = keys[i];
        p.pareto = !keys.iter().enumerate().any(|(j, b)| {
            j != i
                && b.0 <= a.0
                && b.1 <= a.1
                && b.2 <= a.2
                && (b.0 < a.0 || b.1 < a.1 || b.2 < a.2)
        });
    }
}

/// The most energy-efficient point within the area budget and the loss tolerance; else
/// the least lossy one within the area budget; else the smallest front-end.
fn choose(points: &[SplitPoint], opts: &PartitionOptions) -> (usize, String) {
    let best_by = |ok: &dyn Fn(&SplitPoint) -> bool,
                   better: &dyn Fn(&SplitPoint, &SplitPoint) -> bool| {
        let mut best: Option<usize> = None;
        for (i, p) in points.iter().enumerate() {
            if ok(p) && best.is_none_or(|b| better(p, &points[b])) {
                best = Some(i);
            }
        }
        best
    };
    let tolerance = opts.max_loss_points;
    if let Some(i) = best_by(
        &|p| p.within_area_budget && p.max_loss_points < tolerance,
        &|p, q| p.ppa.energy_efficiency_ratio > q.ppa.energy_efficiency_ratio,
    ) {
        return (
            i,
            format!(
                "the most energy-efficient split within the area budget whose every task loses \
                 less than {tolerance} points against full fine-tuning"
            ),
        );
    }
    if let Some(i) = best_by(&|p| p.within_area_budget, &|p, q| {
        p.max_loss_points < q.max_loss_points
    }) {
        return (
            i,
            format!(
                "no split within the area budget keeps every task within {tolerance} points: \
                 the one losing least"
            ),
        );
    }
    let i = best_by(&|_| true, &|p, q| {
        p.ppa.fixed_area_mm2 < q.ppa.fixed_area_mm2
    })
    .unwrap_or(0);
    (
        i,
        "no split fits the area budget: the smallest front-end".to_string(),
    )
}
