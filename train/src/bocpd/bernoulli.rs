//! Binary events counted with a per-fidelity number of trials (Beta–Binomial): in a
//! segment the events are Bernoulli(θ), θ ~ Beta(a₀, b₀), and fidelity j measures the
//! count k of successes in n_j trials (n_j = 1 is one Bernoulli draw; more trials cost
//! more and tell more). A count updates a' = a + k, b' = b + n_j − k, and is predicted
//! by the Beta–Binomial C(n, k) B(a + k, b + n − k) / B(a, b), evaluated as the product
//! Π_{i<k}(a + i) Π_{i<n−k}(b + i) / Π_{i<n}(a + b + i) to keep it exact.

use super::ObservationModel;

/// The Beta–Binomial model with n_j trials per fidelity.
#[derive(Clone, Debug)]
pub struct BetaBinomial {
    a: f64,
    b: f64,
    trials: Vec<u32>,
}

/// The statistics of one run: the Beta posterior's (a, b).
#[derive(Clone, Debug)]
pub struct BetaStats {
    a: f64,
    b: f64,
}

impl BetaBinomial {
    /// Prior Beta(a, b) (both positive) and n_j ≥ 1 trials per fidelity.
    pub fn new(a: f64, b: f64, trials: Vec<u32>) -> Self {
        BetaBinomial { a, b, trials }
    }

    /// ln C(n, k).
    fn ln_choose(n: u32, k: u32) -> f64 {
        (0..k.min(n - k))
            .map(|i| ((n - i) as f64 / (i + 1) as f64).ln())
            .sum()
    }
}

impl ObservationModel for BetaBinomial {
    type Stats = BetaStats;

    fn fidelities(&self) -> usize {
        self.trials.len()
    }

    fn prior(&self) -> BetaStats {
        BetaStats {
            a: self.a,
            b: self.b,
        }
    }

    fn log_predictive(&self, s: &BetaStats, fidelity: usize, x: f64) -> f64 {
        let n = self.trials[fidelity];
        let k = x as u32;
        let ln_rising = |start: f64, count: u32| -> f64 {
            (0..count).map(|i| (start + i as f64).ln()).sum::<f64>()
        };
        Self::ln_choose(n, k) + ln_rising(s.a, k) + ln_rising(s.b, n - k) - ln_rising(s.a + s.b, n)
    }

    fn update(&self, s: &BetaStats, fidelity: usize, x: f64) -> BetaStats {
        BetaStats {
            a: s.a + x,
            b: s.b + self.trials[fidelity] as f64 - x,
        }
    }

    fn check(&self, fidelity: usize, x: f64) -> Result<(), String> {
        let n = self.trials[fidelity];
        match x.is_finite() && x >= 0.0 && x <= n as f64 && x.fract() == 0.0 {
            true => Ok(()),
            false => Err(format!("{x} is not a count of successes in 0..={n}")),
        }
    }

    /// Every count 0..=n_j with weight 1: the exact sum.
    fn quadrature(&self, _: &[&BetaStats], _: &[f64], fidelity: usize) -> Vec<(f64, f64)> {
        (0..=self.trials[fidelity])
            .map(|k| (k as f64, 1.0))
            .collect()
    }
}
