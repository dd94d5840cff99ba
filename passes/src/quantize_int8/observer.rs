//! Range observers: streaming statistics of the values one tensor takes during
//! calibration, and the clipping range each calibration method derives from them.

use serde::{Deserialize, Serialize};

/// How an activation's quantization range is chosen from the calibration values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationMethod {
    /// The observed minimum and maximum (TFLite's converter).
    #[default]
    Minmax,
    /// The `100 - p` and `p` percentiles of the observed values.
    Percentile,
    /// The range that minimizes the expected squared error of int8 quantization
    /// (rounding noise inside the range plus clipping error outside).
    Mse,
}

impl std::fmt::Display for CalibrationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            CalibrationMethod::Minmax => "minmax",
            CalibrationMethod::Percentile => "percentile",
            CalibrationMethod::Mse => "mse",
        })
    }
}

/// Number of histogram bins over `[-R, R)`.
const BINS: usize = 4096;
/// Smallest histogram half-width (values below it all land near the centre bins).
const MIN_HALF_WIDTH: f32 = 1.0 / (1u32 << 24) as f32;

/// A histogram of signed values over `[-half_width, half_width)`. `half_width` is a
/// power of two that doubles (merging pairs of bins, which is exact) whenever a value
/// falls outside, so one pass over the data suffices and at least a quarter of the bins
/// cover the observed extent.
#[derive(Clone, Debug)]
struct Histogram {
    counts: Vec<u64>,
    half_width: f32,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; BINS],
            half_width: MIN_HALF_WIDTH,
        }
    }

    fn bin_width(&self) -> f64 {
        2.0 * self.half_width as f64 / BINS as f64
    }

    /// Grows the range until it covers `|x| = extent`.
    fn cover(&mut self, extent: f32) {
        while extent >= self.half_width {
            let mut merged = vec![0u64; BINS];
            for (j, &c) in self.counts.iter().enumerate() {
                merged[BINS / 4 + j / 2] += c;
            }
            self.counts = merged;
            self.half_width *= 2.0;
        }
    }

    fn add(&mut self, values: &[f32]) {
        let inv = 1.0 / self.bin_width();
        let hw = self.half_width as f64;
        for &x in values {
            let b = ((x as f64 + hw) * inv) as usize;
            self.counts[b.min(BINS - 1)] += 1;
        }
    }

    /// Bin centres and counts of the non-empty bins.
    fn occupied(&self) -> Vec<(f64, f64)> {
        let w = self.bin_width();
        let lo = -(self.half_width as f64);
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (lo + (i as f64 + 0.5) * w, c as f64))
            .collect()
    }

    /// The value below which a fraction `q` of the samples lies (linear within a bin).
    fn quantile(&self, q: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let target = q.clamp(0.0, 1.0) * total as f64;
        let w = self.bin_width();
        let lo = -(self.half_width as f64);
        let mut seen = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            let c = c as f64;
            if c > 0.0 && seen + c >= target {
                let frac = ((target - seen) / c).clamp(0.0, 1.0);
                return lo + (i as f64 + frac) * w;
            }
            seen += c;
        }
        self.half_width as f64
    }
}

/// Streaming statistics of one tensor: minimum, maximum, and (when the method needs it)
/// a histogram.
#[derive(Clone, Debug)]
pub struct Observer {
    min: f32,
    max: f32,
    count: u64,
    hist: Option<Histogram>,
}

/// Smallest and largest finite value of a batch, and how many finite values it had.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FiniteRange {
    lo: f32,
    hi: f32,
    count: u64,
}

impl FiniteRange {
    /// The range of the finite `values`, if any.
    pub fn of(values: &[f32]) -> Option<Self> {
        let (lo, hi, count) = values
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY, 0u64), |(a, b, n), &v| {
                (a.min(v), b.max(v), n + 1)
            });
        (count > 0).then_some(FiniteRange { lo, hi, count })
    }
}

impl Observer {
    /// An observer that keeps a histogram when `method` needs one.
    pub fn new(method: CalibrationMethod) -> Self {
        Observer {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            count: 0,
            hist: (method != CalibrationMethod::Minmax).then(Histogram::new),
        }
    }

    /// Adds values; non-finite values are ignored (they say nothing about a range).
    pub fn observe(&mut self, values: &[f32]) {
        let finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let Some(range) = FiniteRange::of(&finite) else {
            return;
        };
        self.add_range(range);
        if let Some(h) = &mut self.hist {
            h.cover(range.lo.abs().max(range.hi.abs()));
            h.add(&finite);
        }
    }

    /// Whether the observer keeps only the range (so that [`Observer::add_range`] is all
    /// it needs of a batch of values).
    pub fn range_only(&self) -> bool {
        self.hist.is_none()
    }

    /// Adds the summary of a batch of values (all of them, for a range-only observer).
    pub fn add_range(&mut self, r: FiniteRange) {
        self.min = self.min.min(r.lo);
        self.max = self.max.max(r.hi);
        self.count += r.count;
    }

    /// Whether any finite value was observed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The clipping range chosen by `method` (`percentile` in (0, 100] for
    /// [`CalibrationMethod::Percentile`]), within the observed minimum and maximum.
    pub fn range(&self, method: CalibrationMethod, percentile: f32) -> (f32, f32) {
        if self.is_empty() {
            return (0.0, 0.0);
        }
        let (min, max) = (self.min as f64, self.max as f64);
        let (lo, hi) = match (method, &self.hist) {
            (CalibrationMethod::Percentile, Some(h)) => {
                let p = (percentile as f64 / 100.0).clamp(0.5, 1.0);
                (h.quantile(1.0 - p), h.quantile(p))
            }
            (CalibrationMethod::Mse, Some(h)) => mse_range(h, min, max),
            _ => (min, max),
        };
        let lo = lo.clamp(min, max);
        let hi = hi.clamp(lo, max);
        (lo as f32, hi as f32)
    }
}

/// Scale and zero point of asymmetric int8 quantization of `[lo, hi]` (widened to
/// include 0), computed in double like TFLite's `ChooseQuantizationParams`.
pub fn int8_params(lo: f64, hi: f64) -> (f64, i64) {
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    if hi - lo <= 0.0 {
        return (1.0, 0);
    }
    let scale = (hi - lo) / (qmax - qmin);
    let zp_from_min = qmin - lo / scale;
    let zp_from_max = qmax - hi / scale;
    let err_min = qmin.abs() + (lo / scale).abs();
    let err_max = qmax.abs() + (hi / scale).abs();
    let zp = if err_min < err_max {
        zp_from_min
    } else {
        zp_from_max
    };
    let zp = if zp < qmin {
        qmin
    } else if zp > qmax {
        qmax
    } else {
        zp.round()
    };
    (scale, zp as i64)
}

/// Expected squared error of quantizing the histogram with range `[lo, hi]`: uniform
/// rounding noise `scale^2 / 12` inside the representable interval, the squared
/// distance to it outside.
fn quantization_mse(bins: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let (scale, zp) = int8_params(lo, hi);
    let rep_lo = scale * (-128 - zp) as f64;
    let rep_hi = scale * (127 - zp) as f64;
    let noise = scale * scale / 12.0;
    bins.iter()
        .map(|&(x, c)| {
            let e = if x < rep_lo {
                (rep_lo - x).powi(2)
            } else if x > rep_hi {
                (x - rep_hi).powi(2)
            } else {
                noise
            };
            c * e
        })
        .sum()
}

/// Shrink factors tried by the MSE search: 1, 0.97, 0.97^2, ... down to about 1 %.
fn shrink_factors() -> impl Iterator<Item = f64> {
    (0..152).map(|k| 0.97f64.powi(k))
}

/// The MSE-optimal range: first both ends shrunk by a common factor, then each end
/// refined on its own with the other fixed.
fn mse_range(h: &Histogram, min: f64, max: f64) -> (f64, f64) {
    let bins = h.occupied();
    let best = |candidates: &mut dyn Iterator<Item = (f64, f64)>| {
        candidates
            .map(|(lo, hi)| ((lo, hi), quantization_mse(&bins, lo, hi)))
            .fold(((min, max), f64::INFINITY), |acc, (r, e)| {
                if e < acc.1 {
                    (r, e)
                } else {
                    acc
                }
            })
            .0
    };
    let (_, hi) = best(&mut shrink_factors().map(|a| (min * a, max * a)));
    let (lo, _) = best(&mut shrink_factors().map(|a| (min.min(0.0) * a, hi)));
    let (_, hi) = best(&mut shrink_factors().map(|a| (lo, max.max(0.0) * a)));
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic uniform samples in [0, 1) (SplitMix64).
    fn uniform(n: usize) -> Vec<f64> {
        let mut state = 0x1234_5678_u64;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// Standard normal samples (Box-Muller).
    fn normal(n: usize) -> Vec<f32> {
        uniform(2 * n)
            .chunks(2)
            .map(|p| {
                let (u, v) = (p[0].max(1e-300), p[1]);
                ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
            })
            .collect()
    }

    /// Laplace samples with scale 1 (inverse CDF).
    fn laplace(n: usize) -> Vec<f32> {
        uniform(n)
            .iter()
            .map(|u| {
                let d = u - 0.5;
                (-d.signum() * (1.0 - 2.0 * d.abs()).max(1e-300).ln()) as f32
            })
            .collect()
    }

    fn observed(method: CalibrationMethod, values: &[f32]) -> Observer {
        let mut o = Observer::new(method);
        for chunk in values.chunks(1000) {
            o.observe(chunk);
        }
        o
    }

    #[test]
    fn minmax_is_the_observed_extent() {
        let o = observed(CalibrationMethod::Minmax, &[-0.5, 2.0, 1.0, f32::NAN]);
        assert_eq!(o.range(CalibrationMethod::Minmax, 99.0), (-0.5, 2.0));
    }

    #[test]
    fn percentile_of_a_uniform_ramp() {
        // 0.000, 0.001, ..., 9.999: the 99th percentile is 9.9, the 1st is 0.1.
        let v: Vec<f32> = (0..10_000).map(|i| i as f32 / 1000.0).collect();
        let (lo, hi) =
            observed(CalibrationMethod::Percentile, &v).range(CalibrationMethod::Percentile, 99.0);
        assert!((hi - 9.9).abs() < 0.01, "p99 = {hi}");
        assert!((lo - 0.1).abs() < 0.01, "p1 = {lo}");
    }

    #[test]
    fn percentile_of_a_normal_distribution() {
        let v = normal(200_000);
        let o = observed(CalibrationMethod::Percentile, &v);
        // Standard normal quantiles: 99.9 % -> 3.090, 97.5 % -> 1.960.
        let (lo, hi) = o.range(CalibrationMethod::Percentile, 99.9);
        assert!(
            (hi - 3.090).abs() < 0.05 && (lo + 3.090).abs() < 0.05,
            "{lo} {hi}"
        );
        let (lo, hi) = o.range(CalibrationMethod::Percentile, 97.5);
        assert!(
            (hi - 1.960).abs() < 0.02 && (lo + 1.960).abs() < 0.02,
            "{lo} {hi}"
        );
    }

    #[test]
    fn percentile_ignores_a_single_outlier() {
        let mut v: Vec<f32> = (0..100_000).map(|i| (i % 1000) as f32 / 1000.0).collect();
        v.push(1000.0);
        let o = observed(CalibrationMethod::Percentile, &v);
        assert_eq!((o.min, o.max), (0.0, 1000.0));
        let (_, hi) = o.range(CalibrationMethod::Percentile, 99.99);
        assert!(hi > 0.99 && hi < 1.1, "p99.99 = {hi}");
    }

    #[test]
    fn mse_clips_a_normal_distribution_near_the_known_optimum() {
        // For 8-bit uniform quantization of a Gaussian the optimal symmetric clipping is
        // about 3.9 sigma (Banner et al., ACIQ); 200k samples reach about 4.5 sigma.
        let v = normal(200_000);
        let o = observed(CalibrationMethod::Mse, &v);
        let (min, max) = (o.min, o.max);
        let (lo, hi) = o.range(CalibrationMethod::Mse, 0.0);
        assert!(max > 4.2 && min < -4.2, "extent {min} {max}");
        assert!(hi > 3.2 && hi < 4.4, "clip hi {hi}");
        assert!(lo < -3.2 && lo > -4.4, "clip lo {lo}");
    }

    #[test]
    fn mse_keeps_the_full_range_of_a_uniform_distribution() {
        let v: Vec<f32> = (0..100_000)
            .map(|i| i as f32 / 100_000.0 * 4.0 - 1.0)
            .collect();
        let (lo, hi) = observed(CalibrationMethod::Mse, &v).range(CalibrationMethod::Mse, 0.0);
        assert!(hi > 2.97 && lo < -0.98, "{lo} {hi}");
    }

    #[test]
    fn mse_clips_a_laplace_distribution_near_the_known_optimum() {
        // Laplace(b = 1): the optimal 8-bit clipping is about 9.9 b (ACIQ), while the
        // extent of 200k samples is about ln(200k) = 12.2 b.
        let v = laplace(200_000);
        let o = observed(CalibrationMethod::Mse, &v);
        let (lo, hi) = o.range(CalibrationMethod::Mse, 0.0);
        assert!(o.max > 10.5 && o.min < -10.5, "extent {} {}", o.min, o.max);
        assert!(hi > 8.0 && hi < 11.0, "clip hi {hi}");
        assert!(lo < -8.0 && lo > -11.0, "clip lo {lo}");
    }

    #[test]
    fn histogram_growth_merges_bins_exactly() {
        let mut o = Observer::new(CalibrationMethod::Percentile);
        o.observe(&[0.25; 10]);
        o.observe(&[8.0, -8.0]);
        let h = o.hist.as_ref().unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 12);
        assert_eq!(h.half_width, 16.0);
        let at = |x: f64| ((x + 16.0) / h.bin_width()) as usize;
        assert_eq!(h.counts[at(0.25)], 10);
        assert_eq!(h.counts[at(8.0)], 1);
        assert_eq!(h.counts[at(-8.0)], 1);
    }

    #[test]
    fn params_match_tflite_for_typical_ranges() {
        // [0, 1] -> 1/255 with zero point -128 (the digits model's input).
        let (s, z) = int8_params(0.0, 1.0);
        assert!((s - 1.0 / 255.0).abs() < 1e-12 && z == -128);
        // Symmetric [-1, 1] -> 2/255, zero point 0 (rounded from -0.5).
        let (s, z) = int8_params(-1.0, 1.0);
        assert!((s - 2.0 / 255.0).abs() < 1e-12);
        assert!(z == 0 || z == -1);
        // A range excluding zero is widened to include it.
        let (s, z) = int8_params(2.0, 4.0);
        assert!((s - 4.0 / 255.0).abs() < 1e-12 && z == -128);
        assert_eq!(int8_params(0.0, 0.0), (1.0, 0));
    }
}
