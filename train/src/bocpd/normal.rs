//! Gaussian measurements with unknown mean and variance (Normal–inverse-gamma prior),
//! where fidelity j measures with variance σ²/ζ_j: the mean μ of a segment and its σ²
//! are shared by all fidelities, and ζ_j says how precise fidelity j is.
//!
//! Prior: σ² ~ IG(α₀, β₀), μ | σ² ~ N(m₀, σ²/κ₀). A measurement x at fidelity j updates
//! κ' = κ + ζ_j, m' = (κm + ζ_j x)/κ', α' = α + ½, β' = β + κζ_j(x − m)²/(2κ'), and is
//! predicted by a Student t with 2α degrees of freedom, location m and squared scale
//! β(1/κ + 1/ζ_j)/α.

use super::{hermite_rule, ln_gamma, ObservationModel};

/// The Normal–inverse-gamma model with per-fidelity precision factors ζ_j.
#[derive(Clone, Debug)]
pub struct NormalInverseGamma {
    mean: f64,
    kappa: f64,
    alpha: f64,
    beta: f64,
    zetas: Vec<f64>,
}

/// The statistics of one run.
#[derive(Clone, Debug)]
pub struct NigStats {
    mean: f64,
    kappa: f64,
    alpha: f64,
    beta: f64,
    /// ln Γ(α + ½) − ln Γ(α), the part of the t density that depends on α only.
    ln_gamma_ratio: f64,
}

impl NormalInverseGamma {
    /// Prior (m₀, κ₀, α₀, β₀), all but m₀ positive, and ζ_j > 0 per fidelity.
    pub fn new(mean: f64, kappa: f64, alpha: f64, beta: f64, zetas: Vec<f64>) -> Self {
        NormalInverseGamma {
            mean,
            kappa,
            alpha,
            beta,
            zetas,
        }
    }

    /// The precision factors ζ_j.
    pub fn zetas(&self) -> &[f64] {
        &self.zetas
    }

    fn stats(mean: f64, kappa: f64, alpha: f64, beta: f64) -> NigStats {
        NigStats {
            mean,
            kappa,
            alpha,
            beta,
            ln_gamma_ratio: ln_gamma(alpha + 0.5) - ln_gamma(alpha),
        }
    }

    /// The squared scale of the predictive t of `fidelity`.
    fn scale2(&self, s: &NigStats, fidelity: usize) -> f64 {
        s.beta * (1.0 / s.kappa + 1.0 / self.zetas[fidelity]) / s.alpha
    }
}

impl ObservationModel for NormalInverseGamma {
    type Stats = NigStats;

    fn fidelities(&self) -> usize {
        self.zetas.len()
    }

    fn prior(&self) -> NigStats {
        Self::stats(self.mean, self.kappa, self.alpha, self.beta)
    }

    fn log_predictive(&self, s: &NigStats, fidelity: usize, x: f64) -> f64 {
        let nu = 2.0 * s.alpha;
        let scale2 = self.scale2(s, fidelity);
        let z2 = (x - s.mean) * (x - s.mean) / (nu * scale2);
        s.ln_gamma_ratio
            - 0.5 * (nu * std::f64::consts::PI * scale2).ln()
            - 0.5 * (nu + 1.0) * z2.ln_1p()
    }

    fn update(&self, s: &NigStats, fidelity: usize, x: f64) -> NigStats {
        let zeta = self.zetas[fidelity];
        let kappa = s.kappa + zeta;
        let d = x - s.mean;
        Self::stats(
            (s.kappa * s.mean + zeta * x) / kappa,
            kappa,
            s.alpha + 0.5,
            s.beta + s.kappa * zeta * d * d / (2.0 * kappa),
        )
    }

    fn check(&self, _fidelity: usize, x: f64) -> Result<(), String> {
        match x.is_finite() {
            true => Ok(()),
            false => Err(format!("{x} is not a finite number")),
        }
    }

    /// The Gauss–Hermite rule placed at the mixture's mean and spread (the
    /// probability-weighted second moment of location and scale of the hypotheses).
    fn quadrature(&self, stats: &[&NigStats], prior: &[f64], fidelity: usize) -> Vec<(f64, f64)> {
        let (mut m1, mut m2) = (0.0, 0.0);
        for (s, p) in stats.iter().zip(prior) {
            m1 += p * s.mean;
            m2 += p * (s.mean * s.mean + self.scale2(s, fidelity));
        }
        let spread = (m2 - m1 * m1).max(f64::MIN_POSITIVE).sqrt() * std::f64::consts::SQRT_2;
        hermite_rule()
            .iter()
            .map(|(u, w)| (m1 + spread * u, spread * w))
            .collect()
    }
}
