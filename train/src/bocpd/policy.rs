//! Which fidelity to measure at each step: by information gain per unit cost, always
//! the costliest or the cheapest, or at random (seeded); optionally within a total
//! budget, which every policy respects by never spending what the remaining steps need
//! for the cheapest measurement.
//!
//! With a budget, ig-per-cost becomes a priced choice: the fidelity maximizing
//! IG_j − λ·c_j, where the price λ rises by 10 % after each step on which the spending so
//! far is ahead of an even pace (budget · steps done / all steps) and falls by 10 %
//! otherwise. The ratio IG/cost is myopic (one precise measurement cannot gain more than
//! the entropy of "did it change just now?", however cheap precision is per bit in the
//! long run); the price instead spends the budget where the gains are largest.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// A fidelity-selection policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The largest information gain about the run length per unit cost (ties: cheaper).
    IgPerCost,
    /// Always the costliest fidelity.
    AlwaysHigh,
    /// Always the cheapest fidelity.
    AlwaysLow,
    /// Uniformly at random among the affordable fidelities.
    Random,
}

/// The price λ's starting value and its factor per step (see the module documentation).
const PRICE_START: f64 = 1e-3;
const PRICE_STEP: f64 = 1.1;

impl Policy {
    /// All policies, in the order tables list them.
    pub const ALL: [Policy; 4] = [
        Policy::IgPerCost,
        Policy::AlwaysHigh,
        Policy::AlwaysLow,
        Policy::Random,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::IgPerCost => "ig-per-cost",
            Policy::AlwaysHigh => "always-high",
            Policy::AlwaysLow => "always-low",
            Policy::Random => "random",
        }
    }

    /// The policy with this command-line name.
    pub fn named(name: &str) -> Option<Policy> {
        Policy::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// A policy applied step by step, with what it has spent.
pub struct Chooser {
    policy: Policy,
    costs: Vec<f64>,
    budget: Option<f64>,
    spent: f64,
    steps_done: usize,
    price: f64,
    rng: Xoshiro256PlusPlus,
}

impl Chooser {
    /// `costs` per fidelity (positive); `budget`, if any, at least the cheapest cost
    /// times the number of steps (checked by the caller).
    pub fn new(policy: Policy, costs: Vec<f64>, budget: Option<f64>, seed: u64) -> Self {
        Chooser {
            policy,
            costs,
            budget,
            spent: 0.0,
            steps_done: 0,
            price: PRICE_START,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// Whether [`Chooser::choose`] reads information gains.
    pub fn needs_gains(&self) -> bool {
        self.policy == Policy::IgPerCost
    }

    /// The total cost so far.
    pub fn spent(&self) -> f64 {
        self.spent
    }

    /// Chooses this step's fidelity (gains per fidelity when [`Chooser::needs_gains`]),
    /// with `steps_after` steps still to come, and pays for it.
    pub fn choose(&mut self, gains: &[f64], steps_after: usize) -> usize {
        let cheapest = self.cheapest();
        let reserve = self.costs[cheapest] * steps_after as f64;
        let affordable: Vec<usize> = (0..self.costs.len())
            .filter(|&j| match self.budget {
                Some(b) => self.spent + self.costs[j] + reserve <= b * (1.0 + 1e-12),
                None => true,
            })
            .collect();
        let by_cost = |a: &usize, b: &usize| self.costs[*a].total_cmp(&self.costs[*b]);
        let choice = match self.policy {
            Policy::AlwaysLow => Some(cheapest),
            Policy::AlwaysHigh => affordable.iter().copied().max_by(by_cost),
            Policy::Random => match affordable.len() {
                0 => None,
                n => Some(affordable[self.rng.random_range(0..n)]),
            },
            Policy::IgPerCost => {
                let mut best: Option<usize> = None;
                let score = |j: usize| match self.budget {
                    Some(_) => gains[j] - self.price * self.costs[j],
                    None => gains[j] / self.costs[j],
                };
                for &j in &affordable {
                    let value = score(j);
                    let better = match best {
                        None => true,
                        Some(b) => {
                            let best_value = score(b);
                            value > best_value
                                || (value == best_value && self.costs[j] < self.costs[b])
                        }
                    };
                    if better {
                        best = Some(j);
                    }
                }
                best
            }
        }
        .unwrap_or(cheapest);
        self.spent += self.costs[choice];
        self.steps_done += 1;
        if let Some(b) = self.budget {
            let pace = b * self.steps_done as f64 / (self.steps_done + steps_after) as f64;
            self.price *= if self.spent > pace {
                PRICE_STEP
            } else {
                1.0 / PRICE_STEP
            };
        }
        choice
    }

    fn cheapest(&self) -> usize {
        (0..self.costs.len())
            .min_by(|a, b| self.costs[*a].total_cmp(&self.costs[*b]))
            .expect("at least one fidelity")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ig_per_cost_weighs_gain_against_cost() {
        let mut c = Chooser::new(Policy::IgPerCost, vec![1.0, 10.0], None, 0);
        assert_eq!(c.choose(&[0.05, 0.4], 5), 0);
        assert_eq!(c.choose(&[0.01, 0.4], 5), 1);
        assert_eq!(c.spent(), 11.0);
    }

    #[test]
    fn fixed_policies_ignore_gains() {
        let mut high = Chooser::new(Policy::AlwaysHigh, vec![1.0, 10.0], None, 0);
        let mut low = Chooser::new(Policy::AlwaysLow, vec![1.0, 10.0], None, 0);
        assert_eq!(high.choose(&[], 0), 1);
        assert_eq!(low.choose(&[], 0), 0);
    }

    #[test]
    fn budget_keeps_the_cheapest_for_the_remaining_steps() {
        // 3 steps: a costly one fits a budget of 12 (10 + 1 + 1) only if the others stay
        // cheap, and none fits 11.5.
        let mut c = Chooser::new(Policy::AlwaysHigh, vec![1.0, 10.0], Some(11.5), 0);
        let picks: Vec<usize> = (0..3).rev().map(|after| c.choose(&[], after)).collect();
        assert_eq!(picks, vec![0, 0, 0]);
        let mut c = Chooser::new(Policy::AlwaysHigh, vec![1.0, 10.0], Some(12.0), 0);
        let picks: Vec<usize> = (0..3).rev().map(|after| c.choose(&[], after)).collect();
        assert_eq!(picks, vec![1, 0, 0]);
        assert_eq!(c.spent(), 12.0);
    }

    #[test]
    fn priced_budget_buys_precision_where_gains_are_largest() {
        // 100 steps, costs 1 and 10, budget 280; the costly fidelity's gain spikes every
        // 10 steps.
        let mut c = Chooser::new(Policy::IgPerCost, vec![1.0, 10.0], Some(280.0), 0);
        let mut spikes_bought = 0;
        for t in 0..100 {
            let spike = t % 10 == 5;
            let gains = [0.01, if spike { 1.0 } else { 0.02 }];
            if c.choose(&gains, 99 - t) == 1 && spike {
                spikes_bought += 1;
            }
        }
        assert_eq!(spikes_bought, 10);
        assert!(c.spent() <= 280.0 && c.spent() > 200.0, "{}", c.spent());
    }

    #[test]
    fn random_is_seeded() {
        let picks = |seed| {
            let mut c = Chooser::new(Policy::Random, vec![1.0, 2.0, 3.0], None, seed);
            (0..50).map(|_| c.choose(&[], 0)).collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7));
        assert_ne!(picks(7), picks(8));
    }
}
