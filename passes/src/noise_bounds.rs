//! Information bounds for noisy binary networks, as pure functions (logarithms in bits).
//!
//! The setting (Zhou, Zhuang, Mattina, Whatmough, "Information contraction in noisy
//! binary neural networks", ISIT 2021): every binary neuron's output flips with
//! probability ε, a binary symmetric channel BSC(ε). The paper's own theorem constants
//! were not available to us; these are the standard bounds it builds on:
//!
//! - KL contraction of a BSC(ε): η = (1 − 2ε)² ([`bsc_contraction`]).
//! - Percolation (Polyanskiy–Wu): for layers of `N_l` noisy neurons that every path from
//!   the input to the output crosses, η_net ≤ ∏_l (1 − (1 − η)^{N_l})
//!   ([`percolation_bound`]), so I(label; Y) ≤ η_net · H(label).
//! - Evans–Schulman: I(label; Y) ≤ H(label) · Σ_paths ∏ η over the noisy nodes of each
//!   path, which for fully connected layers is ∏_l N_l η ([`evans_schulman_sum`]).
//! - Fano: an M-class decision with error δ needs I ≥ (1 − δ) log M − h(δ)
//!   ([`fano_information`]); with the percolation bound this gives the smallest width of
//!   L equal noisy layers ([`min_width`]), which grows with L.
//!
//! η^L alone is not a valid bound for networks whose neurons share inputs (a repetition
//! code keeps information that η^L says is gone); the percolation bound is.

/// KL contraction coefficient of a binary symmetric channel with flip probability `eps`:
/// (1 − 2ε)².
pub fn bsc_contraction(eps: f64) -> f64 {
    (1.0 - 2.0 * eps).powi(2)
}

/// One layer's percolation factor: the probability that at least one of `width`
/// neurons, each open with probability `eta`, is open: 1 − (1 − η)^width.
pub fn percolation_factor(eta: f64, width: u64) -> f64 {
    1.0 - (1.0 - eta).powf(width as f64)
}

/// The percolation bound on the network's contraction: ∏ over layers of
/// [`percolation_factor`].
pub fn percolation_bound(eta: f64, widths: &[u64]) -> f64 {
    widths.iter().map(|&w| percolation_factor(eta, w)).product()
}

/// The Evans–Schulman path sum of fully connected layers: ∏_l N_l η (paths times the
/// contraction along each). Can exceed 1, where the bound says nothing.
pub fn evans_schulman_sum(eta: f64, widths: &[u64]) -> f64 {
    widths.iter().map(|&w| w as f64 * eta).product()
}

/// Binary entropy h(p) in bits.
pub fn binary_entropy(p: f64) -> f64 {
    let term = |q: f64| if q > 0.0 { -q * q.log2() } else { 0.0 };
    term(p) + term(1.0 - p)
}

/// The information (bits) that Fano's inequality requires of an M-class decision with
/// error probability `delta`: (1 − δ) log₂ M − h(δ), at least 0.
pub fn fano_information(classes: u64, delta: f64) -> f64 {
    ((1.0 - delta) * (classes as f64).log2() - binary_entropy(delta)).max(0.0)
}

/// The smallest width N of `depth` equal noisy layers with contraction `eta` for which
/// the percolation bound allows an M-class decision with error `delta`:
/// (1 − (1 − η)^N)^L · log₂ M ≥ (1 − δ) log₂ M − h(δ), that is
/// N = ⌈log(1 − r^{1/L}) / log(1 − η)⌉ with r the ratio of the two sides' information.
/// `None` when no width suffices (η = 0, or an error-free decision through noise).
pub fn min_width(eta: f64, depth: u32, classes: u64, delta: f64) -> Option<u64> {
    let capacity = (classes as f64).log2();
    if capacity <= 0.0 {
        return Some(1);
    }
    let r = fano_information(classes, delta) / capacity;
    let enough = |n: u64| percolation_factor(eta, n).powi(depth as i32) >= r;
    if r <= 0.0 || eta >= 1.0 || depth == 0 {
        return Some(1);
    }
    if eta <= 0.0 || r >= 1.0 {
        return None;
    }
    let estimate = ((1.0 - r.powf(1.0 / depth as f64)).ln() / (1.0 - eta).ln()).ceil();
    if !estimate.is_finite() || estimate >= u64::MAX as f64 {
        return None;
    }
    // The closed form, corrected by a step for rounding in the logarithms.
    let mut n = (estimate as u64).max(1);
    while n > 1 && enough(n - 1) {
        n -= 1;
    }
    while !enough(n) {
        n += 1;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn contraction_of_a_bsc() {
        assert_eq!(bsc_contraction(0.0), 1.0);
        assert_eq!(bsc_contraction(0.5), 0.0);
        assert!(close(bsc_contraction(0.1), 0.64));
        assert!(close(bsc_contraction(0.25), 0.25));
    }

    #[test]
    fn percolation_by_hand() {
        // η = 0.25: one layer of 2 neurons is open with 1 − 0.75² = 0.4375; a second
        // layer of 1 neuron multiplies by 0.25.
        assert!(close(percolation_factor(0.25, 2), 0.4375));
        assert!(close(percolation_bound(0.25, &[2, 1]), 0.109375));
        assert_eq!(percolation_bound(1.0, &[3, 5]), 1.0);
        assert_eq!(percolation_bound(0.0, &[3, 5]), 0.0);
    }

    /// The percolation probability of a tiny layered graph (input → 2 fully connected
    /// nodes → 3 nodes → output), counted over every open/closed pattern, equals the
    /// product formula.
    #[test]
    fn percolation_matches_brute_force() {
        let eta = 0.3;
        let widths = [2usize, 3];
        let nodes: usize = widths.iter().sum();
        let mut p = 0.0;
        for mask in 0u32..1 << nodes {
            let open = |k: usize| mask >> k & 1 == 1;
            let weight: f64 = (0..nodes)
                .map(|k| if open(k) { eta } else { 1.0 - eta })
                .product();
            // Reachable nodes, layer by layer (fully connected between layers).
            let mut reached = true;
            let mut first = 0;
            for &w in &widths {
                reached = reached && (first..first + w).any(open);
                first += w;
            }
            if reached {
                p += weight;
            }
        }
        let widths_u64: Vec<u64> = widths.iter().map(|&w| w as u64).collect();
        assert!(close(p, percolation_bound(eta, &widths_u64)), "{p}");
    }

    #[test]
    fn evans_schulman_counts_paths() {
        // 2 × 3 paths, each through two nodes of contraction 0.1.
        assert!(close(evans_schulman_sum(0.1, &[2, 3]), 0.06));
    }

    #[test]
    fn fano_by_hand() {
        assert!(close(binary_entropy(0.5), 1.0));
        assert_eq!(binary_entropy(0.0), 0.0);
        // M = 4, δ = 0.5: 0.5 · 2 − 1 = 0.
        assert_eq!(fano_information(4, 0.5), 0.0);
        // M = 2, δ = 0: one bit.
        assert!(close(fano_information(2, 0.0), 1.0));
        // M = 10, δ = 0.1: 0.9 log2 10 − h(0.1).
        let want = 0.9 * 10f64.log2() - binary_entropy(0.1);
        assert!(close(fano_information(10, 0.1), want));
    }

    #[test]
    fn min_width_by_hand() {
        // M = 2, δ = 0.11: r = 1 − h(0.11) − 0.11 ≈ 0.390. η = 0.5, L = 1: the smallest N
        // with 1 − 0.5^N ≥ 0.390 is N = 1 (0.5).
        assert_eq!(min_width(0.5, 1, 2, 0.11), Some(1));
        // L = 2: (1 − 0.5^N)² ≥ 0.390 needs 1 − 0.5^N ≥ 0.6245: N = 2 (0.75).
        assert_eq!(min_width(0.5, 2, 2, 0.11), Some(2));
        // Noiseless, or nothing required: any width; η = 0 or δ = 0 through noise: none.
        assert_eq!(min_width(1.0, 4, 10, 0.1), Some(1));
        assert_eq!(min_width(0.3, 4, 10, 0.9), Some(1));
        assert_eq!(min_width(0.0, 1, 10, 0.1), None);
        assert_eq!(min_width(0.5, 1, 10, 0.0), None);
    }

    #[test]
    fn min_width_is_the_smallest_that_satisfies_the_bound_and_grows_with_depth() {
        let eta = bsc_contraction(0.3);
        let r = fano_information(10, 0.1) / 10f64.log2();
        let mut last = 0;
        for depth in 1..=8 {
            let n = min_width(eta, depth, 10, 0.1).expect("a width");
            assert!(percolation_factor(eta, n).powi(depth as i32) >= r);
            assert!(n == 1 || percolation_factor(eta, n - 1).powi(depth as i32) < r);
            assert!(n >= last, "depth {depth}: {n} < {last}");
            last = n;
        }
        assert!(last > min_width(eta, 1, 10, 0.1).expect("a width"));
    }
}
