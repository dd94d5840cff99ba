//! Declaring changepoints from the run-length posterior, and scoring them against known
//! ones.
//!
//! The rule: a changepoint is declared when the most probable run length drops
//! (r*_t < r*_{t−1}); it is placed at the step t − r*_t where the now most probable run
//! began, and declared only if that step lies after the last declared changepoint (so a
//! posterior that hesitates between two explanations of the same change declares it
//! once).

/// The online rule, fed one MAP run length per step.
#[derive(Default)]
pub struct ChangepointRule {
    previous: Option<usize>,
    last: Option<usize>,
}

impl ChangepointRule {
    /// Feeds step `t`'s MAP run length; the changepoint declared at this step, if any.
    pub fn step(&mut self, t: usize, map_run_length: usize) -> Option<usize> {
        let dropped = self.previous.is_some_and(|p| map_run_length < p);
        self.previous = Some(map_run_length);
        let start = t - map_run_length.min(t);
        let later = self.last.is_none_or(|last| start > last);
        if dropped && later && start > 0 {
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
    let ratio = |n: usize| if n == 0 { 0.0 } else { matched as f64 / n as f64 };
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
    fn a_drop_declares_the_start_of_the_new_run_once() {
        let mut rule = ChangepointRule::default();
        let maps = [0, 1, 2, 3, 4, 0, 1, 6, 2, 3];
        let declared: Vec<usize> = maps
            .iter()
            .enumerate()
            .filter_map(|(t, &m)| rule.step(t, m))
            .collect();
        // Step 5 opens a run; at step 8 a run from step 6 is the most probable: another
        // changepoint. The return to run length 6 at step 7 declares nothing.
        assert_eq!(declared, vec![5, 6]);
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
