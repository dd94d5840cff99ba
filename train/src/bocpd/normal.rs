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

    /// A weak prior fitted to a stream's columns (one per fidelity), given or estimating
    /// each fidelity's noise variance v_j. The estimate is robust to the jumps at
    /// changepoints: (1.4826 · median |x_t − x_{t−1}|)² / 2, the variance of one
    /// measurement if the level is locally constant. With v* = min v_j: ζ_j = v*/v_j,
    /// m₀ the median of that least noisy column, κ₀ = v*/s² for its variance s² (the
    /// spread of segment levels, at least v*), α₀ = 1 and β₀ = v*.
    pub fn fit(columns: &[Vec<f64>], noise: Option<&[f64]>) -> Self {
        let variances: Vec<f64> = match noise {
            Some(v) => v.to_vec(),
            None => columns.iter().map(|c| noise_variance(c)).collect(),
        };
        let (best, v_star) = variances
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one fidelity");
        let column = &columns[best];
        let n = column.len() as f64;
        let mean = column.iter().sum::<f64>() / n;
        let spread = column.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        NormalInverseGamma::new(
            median(column.clone()),
            v_star / spread.max(v_star),
            1.0,
            v_star,
            variances.iter().map(|v| v_star / v).collect(),
        )
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

/// The robust noise-variance estimate of [`NormalInverseGamma::fit`]; a tiny positive
/// floor keeps a constant column usable.
fn noise_variance(column: &[f64]) -> f64 {
    let diffs: Vec<f64> = column.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if diffs.is_empty() {
        return 1.0;
    }
    let sigma_diff = 1.4826 * median(diffs);
    (sigma_diff * sigma_diff / 2.0).max(1e-12)
}

/// The median (the mean of the two middle values for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n % 2 {
        1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
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
