//! Active multi-fidelity Bayesian online changepoint detection (Adams & MacKay 2007;
//! Gundersen et al., UAI 2021).
//!
//! At step t the detector holds the run-length posterior p(r_t | x_{1:t}) in log space,
//! where r_t = 0 means x_t opened a new segment and r_t = r means x_t continues a segment
//! that already held r observations. Before the next observation, a change happens with
//! the constant hazard H: the hypothesis r = 0 (prior statistics) gets probability H and
//! r + 1 gets (1 − H)·p(r). Each hypothesis predicts the measurement of every fidelity
//! ([`ObservationModel`]); the measurement taken reweights them, and conjugate updates
//! give the statistics of each grown run.
//!
//! Run lengths are truncated at `max_run` hypotheses (0 ..= max_run − 1): the mass that
//! would grow past the last one is added to it, and that hypothesis keeps the statistics
//! of the latest max_run − 1 previous observations, so a step costs O(max_run) per
//! predictive evaluation and nothing is dropped from the posterior.

pub mod bernoulli;
pub mod changepoint;
pub mod gain;
pub mod monitor;
pub mod normal;
pub mod policy;
mod special;
pub mod stream;

use special::{hermite_rule, ln_gamma, log_add_exp, log_sum_exp};

/// The sufficient statistics of one run and how each fidelity's measurement depends on
/// them.
pub trait ObservationModel {
    /// The statistics of the observations of one run.
    type Stats: Clone;
    /// How many fidelities the model measures.
    fn fidelities(&self) -> usize;
    /// The statistics of an empty run (the prior).
    fn prior(&self) -> Self::Stats;
    /// ln p(x | run statistics) for a measurement at `fidelity`.
    fn log_predictive(&self, stats: &Self::Stats, fidelity: usize, x: f64) -> f64;
    /// The statistics after `x` measured at `fidelity` joins the run.
    fn update(&self, stats: &Self::Stats, fidelity: usize, x: f64) -> Self::Stats;
    /// Whether `x` is a value `fidelity` can measure; the reason when not.
    fn check(&self, fidelity: usize, x: f64) -> Result<(), String>;
    /// (value, weight) pairs with Σ weight·f(value) ≈ ∫ f(x) dx (or the sum over the
    /// discrete values) for functions f shaped like the predictive mixture of
    /// `fidelity` under hypotheses `stats` with probabilities `prior`.
    fn quadrature(&self, stats: &[&Self::Stats], prior: &[f64], fidelity: usize)
        -> Vec<(f64, f64)>;
}

/// The run-length posterior and the statistics of each run-length hypothesis.
#[derive(Clone)]
pub struct Detector<M: ObservationModel> {
    model: M,
    log_hazard: f64,
    log_survival: f64,
    max_run: usize,
    /// ln p(r_t = r | x_{1:t}) for r = 0, 1, …; empty before the first observation.
    log_posterior: Vec<f64>,
    /// The statistics of run r: its r + 1 observations (fewer for the truncated one).
    stats: Vec<M::Stats>,
}

impl<M: ObservationModel> Detector<M> {
    /// A detector with change probability `hazard` per step (0 < hazard < 1) and at
    /// most `max_run` (≥ 2) run-length hypotheses.
    pub fn new(model: M, hazard: f64, max_run: usize) -> Self {
        assert!(hazard > 0.0 && hazard < 1.0 && max_run >= 2);
        Detector {
            model,
            log_hazard: hazard.ln(),
            log_survival: (-hazard).ln_1p(),
            max_run,
            log_posterior: Vec::new(),
            stats: Vec::new(),
        }
    }

    /// ln p(r_t = r | x_{1:t}), r = 0, 1, ….
    pub fn log_posterior(&self) -> &[f64] {
        &self.log_posterior
    }

    /// The most probable run length (0 before any observation).
    pub fn map_run_length(&self) -> usize {
        let mut best = 0;
        for (r, &p) in self.log_posterior.iter().enumerate() {
            if p > self.log_posterior[best] {
                best = r;
            }
        }
        best
    }

    /// The prior over the next run length, ln p(r_{t+1} = r | x_{1:t}), with the
    /// statistics each hypothesis predicts from.
    pub fn next_hypotheses(&self) -> (Vec<f64>, Vec<&M::Stats>) {
        if self.log_posterior.is_empty() {
            return (vec![0.0], Vec::new());
        }
        let mut log_prior = Vec::with_capacity(self.log_posterior.len() + 1);
        log_prior.push(self.log_hazard);
        log_prior.extend(self.log_posterior.iter().map(|p| p + self.log_survival));
        let mut from: Vec<&M::Stats> = self.stats.iter().collect();
        if log_prior.len() > self.max_run {
            let top = log_prior.pop().expect("longer than max_run");
            let last = log_prior.last_mut().expect("max_run ≥ 2");
            *last = log_add_exp(*last, top);
            from.pop();
        }
        (log_prior, from)
    }

    /// Observes `x` at `fidelity` (checked by the caller with [`ObservationModel::check`]).
    pub fn observe(&mut self, fidelity: usize, x: f64) {
        let (mut log_joint, from) = self.next_hypotheses();
        let prior = self.model.prior();
        let mut stats = Vec::with_capacity(log_joint.len());
        for (r, l) in log_joint.iter_mut().enumerate() {
            let s = if r == 0 { &prior } else { from[r - 1] };
            *l += self.model.log_predictive(s, fidelity, x);
            stats.push(self.model.update(s, fidelity, x));
        }
        let evidence = log_sum_exp(&log_joint);
        log_joint.iter_mut().for_each(|l| *l -= evidence);
        self.log_posterior = log_joint;
        self.stats = stats;
    }

    /// The information gain about the next run length of a measurement at each fidelity
    /// ([`gain::information_gain`]).
    pub fn gains(&self) -> Vec<f64> {
        let (log_prior, from) = self.next_hypotheses();
        let prior = self.model.prior();
        let mut hypotheses = vec![&prior];
        hypotheses.extend(from);
        (0..self.model.fidelities())
            .map(|j| gain::information_gain(&self.model, &hypotheses, &log_prior, j))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::normal::NormalInverseGamma;
    use super::*;

    fn detector(max_run: usize) -> Detector<NormalInverseGamma> {
        let model = NormalInverseGamma::new(0.0, 0.1, 1.0, 1.0, vec![0.1, 1.0]);
        Detector::new(model, 0.01, max_run)
    }

    #[test]
    fn posterior_stays_normalized_and_truncated() {
        let mut d = detector(5);
        for t in 0..20 {
            d.observe(t % 2, (t as f64 * 0.7).sin());
            let p: f64 = d.log_posterior().iter().map(|l| l.exp()).sum();
            assert!((p - 1.0).abs() < 1e-12);
            assert_eq!(d.log_posterior().len(), (t + 1).min(5));
        }
    }

    #[test]
    fn truncation_keeps_the_mass_of_long_runs() {
        // Without a change the long runs hold most of the mass; truncated at 4, that mass
        // sits on the last hypothesis instead of disappearing.
        let mut d = detector(4);
        for _ in 0..30 {
            d.observe(1, 0.0);
        }
        assert_eq!(d.map_run_length(), 3);
        assert!(d.log_posterior()[3].exp() > 0.9);
    }

    #[test]
    fn hazard_is_the_prior_change_probability() {
        let mut d = detector(100);
        d.observe(1, 0.3);
        let (log_prior, _) = d.next_hypotheses();
        assert!((log_prior[0].exp() - 0.01).abs() < 1e-15);
        assert!((log_prior[1].exp() - 0.99).abs() < 1e-15);
    }

    #[test]
    fn a_jump_moves_the_map_run_length_to_the_change() {
        let mut d = detector(200);
        for t in 0..60 {
            d.observe(
                1,
                if t < 40 { 0.0 } else { 8.0 } + 0.1 * ((t * 7) % 5) as f64,
            );
        }
        assert_eq!(d.map_run_length(), 19);
    }
}
