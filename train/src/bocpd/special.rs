//! The special functions the observation models need: ln Γ and the Gauss–Hermite rule.

use std::sync::OnceLock;

/// ln Γ(x) for x > 0: the recurrence Γ(x) = Γ(x + 1) / x lifts x to at least 15, where
/// Stirling's series with five correction terms is exact to double precision.
pub fn ln_gamma(x: f64) -> f64 {
    let (mut x, mut product) = (x, 1.0);
    while x < 15.0 {
        product *= x;
        x += 1.0;
    }
    let z = 1.0 / (x * x);
    let series =
        (1.0 / 12.0 - z * (1.0 / 360.0 - z * (1.0 / 1260.0 - z * (1.0 / 1680.0 - z / 1188.0)))) / x;
    (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + series - product.ln()
}

/// Number of nodes of the Gauss–Hermite rule (as in the reference implementation).
const HERMITE_NODES: usize = 50;

/// The 50-point Gauss–Hermite rule for ∫ f(u) e^{−u²} du: (node, weight) pairs, with each
/// weight already multiplied by e^{u²}, so that Σ w·f(u) approximates ∫ f(u) du for an f
/// that decays like a Gaussian.
pub fn hermite_rule() -> &'static [(f64, f64)] {
    static RULE: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    RULE.get_or_init(|| {
        hermite_nodes(HERMITE_NODES)
            .into_iter()
            .map(|(u, w)| (u, w * (u * u).exp()))
            .collect()
    })
}

/// Nodes and weights of the n-point Gauss–Hermite rule: Newton's method on the
/// orthonormal Hermite recurrence, from the usual asymptotic first guesses.
fn hermite_nodes(n: usize) -> Vec<(f64, f64)> {
    let nf = n as f64;
    let pi_m4 = std::f64::consts::PI.powf(-0.25);
    let mut nodes = vec![(0.0, 0.0); n];
    let mut z = 0.0;
    for i in 0..n.div_ceil(2) {
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-1.0 / 6.0),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * nodes[0].0,
            3 => 1.91 * z - 0.91 * nodes[1].0,
            _ => 2.0 * z - nodes[i - 2].0,
        };
        let mut derivative = 0.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (pi_m4, 0.0);
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
            }
            derivative = (2.0 * nf).sqrt() * p2;
            let step = p1 / derivative;
            z -= step;
            if step.abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        let w = 2.0 / (derivative * derivative);
        nodes[i] = (z, w);
        nodes[n - 1 - i] = (-z, w);
    }
    nodes
}

/// ln Σ exp(v), finite for any finite input.
pub fn log_sum_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + v.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
}

/// ln(e^a + e^b).
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + (lo - hi).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_known_values() {
        // Γ(0.5) = √π, Γ(5) = 24; the others are Python's math.lgamma.
        assert!((ln_gamma(0.5) - 0.5 * std::f64::consts::PI.ln()).abs() < 1e-14);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-14);
        assert!((ln_gamma(1.0)).abs() < 1e-14);
        assert!((ln_gamma(3.7) - 1.428_072_326_665_388_3).abs() < 1e-14);
        assert!((ln_gamma(171.0) - 706.573_062_245_787_4).abs() < 1e-11);
    }

    #[test]
    fn hermite_rule_integrates_gaussian_moments() {
        let nodes = hermite_nodes(HERMITE_NODES);
        let pi = std::f64::consts::PI;
        let m0: f64 = nodes.iter().map(|(_, w)| w).sum();
        let m2: f64 = nodes.iter().map(|(u, w)| w * u * u).sum();
        assert!((m0 - pi.sqrt()).abs() < 1e-13, "{m0}");
        assert!((m2 - pi.sqrt() / 2.0).abs() < 1e-13, "{m2}");
        // With the weights times e^{u²}, ∫ e^{−u²/2} du = √(2π).
        let g: f64 = hermite_rule()
            .iter()
            .map(|(u, w)| w * (-u * u / 2.0).exp())
            .sum();
        assert!((g - (2.0 * pi).sqrt()).abs() < 1e-12, "{g}");
    }
}
