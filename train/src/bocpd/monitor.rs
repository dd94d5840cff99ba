//! A stream monitored step by step: the policy picks a fidelity, the detector observes
//! that fidelity's value, and the changepoint rule reads the posterior.

use super::changepoint::ChangepointRule;
use super::policy::{Chooser, Policy};
use super::{Detector, ObservationModel};
use serde::Serialize;

/// How a stream is monitored.
#[derive(Clone, Debug)]
pub struct MonitorOptions {
    /// Expected run length λ: the hazard is 1/λ per step.
    pub expected_run: f64,
    /// Run-length hypotheses kept (truncation bound).
    pub max_run: usize,
    pub policy: Policy,
    /// Cost per fidelity.
    pub costs: Vec<f64>,
    /// Total cost allowed, if any.
    pub budget: Option<f64>,
    /// Seed of the random policy.
    pub seed: u64,
    /// The changepoint rule's window ([`ChangepointRule`]).
    pub window: usize,
}

/// What monitoring a stream found and spent.
#[derive(Clone, Debug, Serialize)]
pub struct Monitoring {
    pub policy: &'static str,
    pub steps: usize,
    /// Declared changepoints: the first step (0-based row) of each new segment.
    pub changepoints: Vec<usize>,
    /// Total measurement cost.
    pub cost: f64,
    /// The fidelity measured at each step (0 = the first column).
    pub fidelity: Vec<usize>,
    /// The most probable run length after each step.
    pub map_run_length: Vec<usize>,
    /// p(r_t = 0 | x_{1:t}): the probability that step t opened a segment.
    pub change_probability: Vec<f64>,
    /// The run-length posterior, coarsened for drawing.
    #[serde(skip)]
    pub heat_map: HeatMap,
}

/// The run-length posterior over steps, averaged over blocks of `steps_per_cell` steps
/// and summed over blocks of `runs_per_cell` run lengths (at most 300 × 80 cells).
#[derive(Clone, Debug, Default)]
pub struct HeatMap {
    pub steps_per_cell: usize,
    pub runs_per_cell: usize,
    /// cells[step block][run-length block].
    pub cells: Vec<Vec<f64>>,
}

impl HeatMap {
    fn new(steps: usize, max_run: usize) -> Self {
        let steps_per_cell = steps.div_ceil(300).max(1);
        let runs_per_cell = max_run.div_ceil(80).max(1);
        HeatMap {
            steps_per_cell,
            runs_per_cell,
            cells: vec![vec![0.0; max_run.div_ceil(runs_per_cell)]; steps.div_ceil(steps_per_cell)],
        }
    }

    fn add(&mut self, t: usize, log_posterior: &[f64]) {
        let column = &mut self.cells[t / self.steps_per_cell];
        for (r, l) in log_posterior.iter().enumerate() {
            column[r / self.runs_per_cell] += l.exp() / self.steps_per_cell as f64;
        }
    }
}

/// Monitors `rows` (one value per fidelity per step, each already checked with
/// [`ObservationModel::check`]) with `model`.
pub fn monitor<M: ObservationModel>(
    model: M,
    rows: &[Vec<f64>],
    options: &MonitorOptions,
) -> Monitoring {
    let mut detector = Detector::new(model, 1.0 / options.expected_run, options.max_run);
    let mut chooser = Chooser::new(
        options.policy,
        options.costs.clone(),
        options.budget,
        options.seed,
    );
    let mut rule = ChangepointRule::new(options.window);
    let mut out = Monitoring {
        policy: options.policy.name(),
        steps: rows.len(),
        changepoints: Vec::new(),
        cost: 0.0,
        fidelity: Vec::with_capacity(rows.len()),
        map_run_length: Vec::with_capacity(rows.len()),
        change_probability: Vec::with_capacity(rows.len()),
        heat_map: HeatMap::new(rows.len(), options.max_run),
    };
    for (t, row) in rows.iter().enumerate() {
        let gains = if chooser.needs_gains() {
            detector.gains()
        } else {
            Vec::new()
        };
        let j = chooser.choose(&gains, rows.len() - t - 1);
        detector.observe(j, row[j]);
        let map = detector.map_run_length();
        out.changepoints
            .extend(rule.step(t, detector.log_posterior()));
        out.fidelity.push(j);
        out.map_run_length.push(map);
        out.change_probability
            .push(detector.log_posterior()[0].exp());
        out.heat_map.add(t, detector.log_posterior());
    }
    out.cost = chooser.spent();
    out
}
