//! The information gain of a measurement about the run length: the mutual information
//! I(R; X) = H(R) − E_X[H(R | X)] between the next run length R (prior: the hazard step
//! of the current posterior) and the measurement X of one fidelity.

use super::{log_sum_exp, ObservationModel};

/// I(R; X_fidelity) in nats, for run-length hypotheses with statistics `stats` and prior
/// ln-probabilities `log_prior`. The expectation over X uses the model's quadrature
/// (Gauss–Hermite for continuous measurements, the exact sum for counts), normalized by
/// the quadrature's own estimate of ∫ p(x) dx so that a rule's truncated tails do not
/// bias the expectation; the result is clamped at 0.
pub fn information_gain<M: ObservationModel>(
    model: &M,
    stats: &[&M::Stats],
    log_prior: &[f64],
    fidelity: usize,
) -> f64 {
    let prior_entropy = entropy(log_prior);
    let prior: Vec<f64> = log_prior.iter().map(|l| l.exp()).collect();
    let mut log_joint = vec![0.0; log_prior.len()];
    let (mut mass, mut expected_entropy) = (0.0, 0.0);
    for (x, w) in model.quadrature(stats, &prior, fidelity) {
        for ((l, lp), s) in log_joint.iter_mut().zip(log_prior).zip(stats) {
            *l = lp + model.log_predictive(s, fidelity, x);
        }
        let log_evidence = log_sum_exp(&log_joint);
        let density = w * log_evidence.exp();
        log_joint.iter_mut().for_each(|l| *l -= log_evidence);
        mass += density;
        expected_entropy += density * entropy(&log_joint);
    }
    if mass <= 0.0 {
        return 0.0;
    }
    (prior_entropy - expected_entropy / mass).max(0.0)
}

/// −Σ p ln p of a normalized distribution given as ln p.
fn entropy(log_p: &[f64]) -> f64 {
    log_p
        .iter()
        .filter(|l| l.is_finite())
        .map(|l| -l.exp() * l)
        .sum()
}
