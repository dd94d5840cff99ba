//! Declaring changepoints from the run-length posterior, and scoring them against known
//! ones.
//!
//! The rule: after step t, the posterior probability that the current run began within
//! the last `window` steps, P(r_t < window), is compared with ½. Above it, a changepoint
//! is declared at t − r̂, where r̂ is the most probable run length below `window`, unless
//! that step lies within `window` steps of the last declared changepoint (the same
//! change, seen again while its run is young). The MAP run length alone is not used: the
//! mass of a long run spreads over many neighbouring run lengths, so a young run with
//! little mass could be the most probable single value.

/// The online rule, fed the run-length posterior step by step.
pub struct ChangepointRule {
    window: usize,
    last: Option<usize>,
}

impl ChangepointRule {
    /// The rule with a window of `window` (≥ 1) steps.
    pub fn new(window: usize) -> Self {
        ChangepointRule {
            window: window.max(1),
            last: None,
        }
    }

    /// Feeds step `t`'s ln p(r_t = r | x_{1:t}); the changepoint declared now, if any.
    pub fn step(&mut self, t: usize, log_posterior: &[f64]) -> Option<usize> {
        let young = &log_posterior[..self.window.min(log_posterior.len())];
        let mass: f64 = young.iter().map(|l| l.exp()).sum();
        if mass <= 0.5 || log_posterior.len() <= self.window {
            return None;
        }
        let mut r = 0;
        for (k, &l) in young.iter().enumerate() {
            if l > young[r] {
                r = k;
            }
        }
        let start = t - r.min(t);
        let new = self.last.is_none_or(|last| start > last + self.window);
        if new && start > 0 {
            self.last = Some(start);
            return Some(start);
        }
        None
    }
}

/// Precision, recall and F1 of `detected` against `truth`: each true changepoint is
/// matched to at most one detection within `tolerance` steps (nearest first, in step
/// order). With no true and no detected changepoints all three are 1.
pub fn f1_score(detected: &[usize], truth: &[usize], tolerance: usize) -> (f64, f64, f64) {
    if detected.is_empty() && truth.is_empty() {
        return (1.0, 1.0, 1.0);
    }
    let mut used = vec![false; detected.len()];
    let mut matched = 0usize;
    for &t in truth {
        let nearest = (0..detected.len())
            .filter(|&i| !used[i] && detected[i].abs_diff(t) <= tolerance)
            .min_by_key(|&i| detected[i].abs_diff(t));
        if let Some(i) = nearest {
            used[i] = true;
            matched += 1;
        }
    }
    let ratio = |n: usize| {
        if n == 0 {
            0.0
        } else {
            matched as f64 / n as f64
        }
    };
    let (precision, recall) = (ratio(detected.len()), ratio(truth.len()));
    let f1 = match precision + recall {
        s if s > 0.0 => 2.0 * precision * recall / s,
        _ => 0.0,
    };
    (precision, recall, f1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_young_run_with_most_of_the_mass_is_declared_once() {
        let mut rule = ChangepointRule::new(3);
        // ln-posteriors over r = 0..5: an old run, then the mass moving to a run from step
        // 10 (r = 1 at t = 11, r = 2 at t = 12).
        let old = [-9.0, -9.0, -9.0, -9.0, -0.1, -2.4];
        let young1 = [-3.0, -0.2, -9.0, -9.0, -9.0, -2.0];
        let young2 = [-4.0, -3.0, -0.1, -9.0, -9.0, -9.0];
        assert_eq!(rule.step(9, &old), None);
        assert_eq!(rule.step(11, &young1), Some(10));
        assert_eq!(rule.step(12, &young2), None);
    }

    #[test]
    fn f1_matches_within_the_tolerance() {
        assert_eq!(f1_score(&[10, 52, 90], &[10, 50], 3), (2.0 / 3.0, 1.0, 0.8));
        assert_eq!(f1_score(&[], &[], 3), (1.0, 1.0, 1.0));
        assert_eq!(f1_score(&[5], &[], 3).2, 0.0);
        // One detection matches one true changepoint only.
        assert_eq!(f1_score(&[10], &[9, 11], 2), (1.0, 0.5, 2.0 / 3.0));
    }
}
