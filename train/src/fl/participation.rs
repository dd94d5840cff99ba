//! Change-triggered participation: each client watches a statistic of its incoming data
//! with Bayesian online changepoint detection ([`crate::bocpd`]) and trains and sends an
//! update only in the first rounds and in the rounds right after it detects a change;
//! and drift, which changes every client's non-IID label mix at given rounds.
//!
//! The statistic is the mean label (divided by the number of classes) of a sample of the
//! client's current training rows, measured at one of two fidelities each round: 8 rows
//! (cost 8) or 64 rows (cost 64), so its noise variance is σ²/n. The client picks the
//! fidelity by information gain priced against cost, within a budget of half the cost of
//! reading 64 rows every round ([`crate::bocpd::policy`]). Rows are read with replacement from the
//! client's rows of the current drift phase.

use crate::bocpd::changepoint::ChangepointRule;
use crate::bocpd::normal::NormalInverseGamma;
use crate::bocpd::policy::{Chooser, Policy};
use crate::bocpd::Detector;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// Rows read per measurement at each fidelity (also its cost).
pub const SAMPLE_ROWS: [usize; 2] = [8, 64];
/// Rounds a client takes part in at the start and after each detected change, unless
/// given ([`ParticipationOptions::active_rounds`]).
pub const DEFAULT_ACTIVE_ROUNDS: usize = 3;
/// Expected rounds between changes (the detector's hazard is its inverse).
const EXPECTED_RUN: f64 = 10.0;

/// Which clients train in a round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Participation {
    /// Every client, every round.
    #[default]
    Always,
    /// A client in its first [`ParticipationOptions::active_rounds`] rounds and in as
    /// many rounds from the one in which it detects a change in its data.
    OnChange,
}

impl Participation {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Participation::Always => "always",
            Participation::OnChange => "on-change",
        }
    }
}

/// Participation and drift of a simulation.
#[derive(Clone, Debug)]
pub struct ParticipationOptions {
    pub participation: Participation,
    /// Rounds (1-based) from which every client's rows are redrawn from the partition
    /// with another seed, so each non-IID client's label mix changes.
    pub drift: Vec<usize>,
    /// Rounds an on-change client trains at the start and from each detected change.
    pub active_rounds: usize,
}

impl Default for ParticipationOptions {
    fn default() -> Self {
        ParticipationOptions {
            participation: Participation::Always,
            drift: Vec::new(),
            active_rounds: DEFAULT_ACTIVE_ROUNDS,
        }
    }
}

impl ParticipationOptions {
    /// Whether anything differs from every client in every round on fixed data.
    pub fn is_default(&self) -> bool {
        self.participation == Participation::Always && self.drift.is_empty()
    }

    /// The drift phase of `round`: how many drift rounds are at or before it.
    pub fn phase(&self, round: usize) -> usize {
        self.drift.iter().filter(|&&d| d <= round).count()
    }
}

/// What participation did, in the simulation's JSON when participation or drift is set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ParticipationSummary {
    pub participation: Participation,
    pub drift: Vec<usize>,
    /// Rounds an on-change client trains at the start and from each detected change.
    pub active_rounds: usize,
    /// Clients that trained, per round.
    pub participants: Vec<usize>,
    /// Per client, the rounds in which it detected a change.
    pub detections: Vec<Vec<usize>>,
    /// Rows all clients read for their statistic (the measurement cost).
    pub statistic_rows: u64,
}

/// One client's detector on its data statistic.
pub struct ChangeWatch {
    detector: Detector<NormalInverseGamma>,
    chooser: Chooser,
    rule: ChangepointRule,
    rng: Xoshiro256PlusPlus,
    classes: f64,
    active_rounds: usize,
    active_until: usize,
    rounds: usize,
    pub detections: Vec<usize>,
    pub rows_read: u64,
}

impl ChangeWatch {
    /// The watch of client `client` over `rounds` rounds of a `classes`-class dataset,
    /// taking part in `active_rounds` (≥ 1) rounds at the start and from each change.
    pub fn new(
        seed: u64,
        client: usize,
        classes: usize,
        rounds: usize,
        active_rounds: usize,
    ) -> Self {
        // The mean of labels in [0, 1): levels spread by about 0.2, one row's variance
        // about 0.08 (ζ_j = rows read, so σ² is one row's variance).
        let zetas = SAMPLE_ROWS.iter().map(|&n| n as f64).collect();
        let model = NormalInverseGamma::new(0.5, 2.0, 1.0, 0.08, zetas);
        let costs = SAMPLE_ROWS.iter().map(|&n| n as f64).collect();
        // Half of reading the larger sample every round, spent by the priced policy.
        let budget = (SAMPLE_ROWS[1] * rounds) as f64 / 2.0;
        let stream_seed = seed ^ (0x5eed_c4a1_u64.wrapping_mul(client as u64 + 1));
        ChangeWatch {
            detector: Detector::new(model, 1.0 / EXPECTED_RUN, 64),
            chooser: Chooser::new(Policy::IgPerCost, costs, Some(budget), stream_seed),
            rule: ChangepointRule::new(3),
            rng: Xoshiro256PlusPlus::seed_from_u64(stream_seed),
            classes: classes.max(1) as f64,
            active_rounds,
            active_until: active_rounds,
            rounds,
            detections: Vec::new(),
            rows_read: 0,
        }
    }

    /// Measures the statistic of the client's current `rows` (labels `labels`) in
    /// `round` (1-based) and says whether the client takes part in it.
    pub fn round(&mut self, round: usize, labels: &[i64], rows: &[usize]) -> bool {
        if !rows.is_empty() {
            let gains = self.detector.gains();
            let j = self.chooser.choose(&gains, self.rounds - round);
            let n = SAMPLE_ROWS[j];
            let sum: f64 = (0..n)
                .map(|_| labels[rows[self.rng.random_range(0..rows.len())]] as f64)
                .sum();
            self.rows_read += n as u64;
            self.detector.observe(j, sum / n as f64 / self.classes);
            if self
                .rule
                .step(round - 1, self.detector.log_posterior())
                .is_some()
            {
                self.detections.push(round);
                self.active_until = self.active_until.max(round + self.active_rounds - 1);
            }
        }
        round <= self.active_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_label_mix_is_detected_and_reopens_participation() {
        // Rows 0..50 hold labels 1–3, rows 50..100 labels 6–8; the client's rows move
        // from the first half to the second in round 8.
        let labels: Vec<i64> = (0..100)
            .map(|i| if i < 50 { 1 + i % 3 } else { 6 + i % 3 })
            .collect();
        let (before, after): (Vec<usize>, Vec<usize>) = ((0..50).collect(), (50..100).collect());
        let active = DEFAULT_ACTIVE_ROUNDS;
        let mut watch = ChangeWatch::new(0, 0, 10, 20, active);
        let taking: Vec<bool> = (1..=20)
            .map(|round| watch.round(round, &labels, if round < 8 { &before } else { &after }))
            .collect();
        assert_eq!(watch.detections.len(), 1, "{:?}", watch.detections);
        let detected = watch.detections[0];
        assert!((8..=10).contains(&detected), "{detected}");
        let expected: Vec<bool> = (1..=20)
            .map(|r| r <= active || (detected..detected + active).contains(&r))
            .collect();
        assert_eq!(taking, expected);
    }

    #[test]
    fn drift_phases_count_the_drift_rounds_passed() {
        let o = ParticipationOptions {
            participation: Participation::OnChange,
            drift: vec![5, 9],
            ..ParticipationOptions::default()
        };
        let phases: Vec<usize> = [1, 4, 5, 8, 9, 30].iter().map(|&r| o.phase(r)).collect();
        assert_eq!(phases, vec![0, 0, 1, 1, 2, 2]);
        assert!(!o.is_default() && ParticipationOptions::default().is_default());
    }
}
