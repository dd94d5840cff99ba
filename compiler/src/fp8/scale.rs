//! Scale factors for FP8 tensors: a value `x` is stored as the code of `x / scale`, and
//! read back as `decode(code) * scale`.

use super::format::{Fp8Format, Saturation};
use ndarray::{ArrayD, Axis};
use std::collections::VecDeque;

/// How a scale is chosen from the values it must represent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScaleMethod {
    /// Map the largest magnitude (amax) to the format's largest finite value, times
    /// `2^margin` (a positive margin leaves headroom, as in delayed scaling).
    Amax { margin: i32 },
    /// Try `candidates` scales from the amax scale down to 1/8 of it (more clipping, more
    /// resolution for small values), evenly in log space, and keep the one with the least
    /// squared quantization error.
    Mse { candidates: usize },
}

impl Default for ScaleMethod {
    fn default() -> Self {
        ScaleMethod::Amax { margin: 0 }
    }
}

/// Largest finite magnitude in `values` (0 when there is none).
pub(crate) fn amax(values: impl IntoIterator<Item = f32>) -> f32 {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(0f32, |m, v| m.max(v.abs()))
}

/// The scale that maps `amax` to the format's largest value times `2^margin` (1 for a
/// zero or non-finite amax, so all-zero tensors stay exact).
fn amax_scale(format: Fp8Format, amax: f32, margin: i32) -> f32 {
    let s = amax / format.max_value() * 2f32.powi(margin);
    if s.is_finite() && s > 0.0 {
        s
    } else {
        1.0
    }
}

/// Sum of squared errors of storing `values` with `scale` (saturating, nearest even).
fn squared_error(format: Fp8Format, values: &[f32], scale: f32) -> f64 {
    values
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| {
            let q = format.decode(format.encode(v / scale, Saturation::Saturate)) * scale;
            ((v - q) as f64).powi(2)
        })
        .sum()
}

/// The scale for one tensor (or one channel) holding `values`.
pub fn tensor_scale(format: Fp8Format, values: &[f32], method: ScaleMethod) -> f32 {
    let a = amax(values.iter().copied());
    match method {
        ScaleMethod::Amax { margin } => amax_scale(format, a, margin),
        ScaleMethod::Mse { candidates } => {
            let base = amax_scale(format, a, 0);
            if a == 0.0 || candidates < 2 {
                return base;
            }
            let steps = (candidates - 1) as f32;
            let mut best = (squared_error(format, values, base), base);
            for i in 1..candidates {
                let s = base * (-3.0 * i as f32 / steps).exp2();
                let e = squared_error(format, values, s);
                if e < best.0 {
                    best = (e, s);
                }
            }
            best.1
        }
    }
}

/// One scale per index along `axis` (e.g. per output channel of a weight tensor).
pub fn channel_scales(
    format: Fp8Format,
    values: &ArrayD<f32>,
    axis: usize,
    method: ScaleMethod,
) -> Vec<f32> {
    values
        .axis_iter(Axis(axis))
        .map(|lane| {
            let v: Vec<f32> = lane.iter().copied().collect();
            tensor_scale(format, &v, method)
        })
        .collect()
}

/// Delayed scaling for training: the amax of the last `len` steps sets the scale of the
/// next step.
#[derive(Clone, Debug)]
pub struct AmaxHistory {
    len: usize,
    window: VecDeque<f32>,
}

impl AmaxHistory {
    /// A history over the last `len` steps (at least 1).
    pub fn new(len: usize) -> Self {
        AmaxHistory {
            len: len.max(1),
            window: VecDeque::new(),
        }
    }

    /// Records the amax of one step's values.
    pub fn record(&mut self, values: &[f32]) {
        self.push(amax(values.iter().copied()));
    }

    /// Records one step's amax, forgetting the oldest beyond the window.
    pub fn push(&mut self, amax: f32) {
        if self.window.len() == self.len {
            self.window.pop_front();
        }
        self.window
            .push_back(if amax.is_finite() { amax } else { 0.0 });
    }

    /// The amaxes in the window, oldest first (pushing them into a new history of the
    /// same length restores this one).
    pub fn window(&self) -> impl Iterator<Item = f32> + '_ {
        self.window.iter().copied()
    }

    /// The largest amax in the window (0 before the first step).
    pub fn amax(&self) -> f32 {
        self.window.iter().fold(0f32, |m, &v| m.max(v))
    }

    /// The scale for the next step.
    pub fn scale(&self, format: Fp8Format, margin: i32) -> f32 {
        amax_scale(format, self.amax(), margin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn amax_scale_maps_the_largest_value_to_the_format_maximum() {
        let s = tensor_scale(
            Fp8Format::E4M3,
            &[-2.0, 1.0, f32::NAN],
            ScaleMethod::default(),
        );
        assert_eq!(s, 2.0 / 448.0);
        let with_margin = tensor_scale(Fp8Format::E4M3, &[2.0], ScaleMethod::Amax { margin: 1 });
        assert_eq!(with_margin, 4.0 / 448.0);
        assert_eq!(
            tensor_scale(Fp8Format::E5M2, &[0.0; 4], ScaleMethod::default()),
            1.0
        );
    }

    #[test]
    fn mse_search_never_does_worse_than_amax() {
        // One outlier: clipping it gives the many small values more resolution.
        let mut v: Vec<f32> = (0..200).map(|i| (i as f32 * 0.37).sin() * 0.01).collect();
        v.push(3.0);
        let f = Fp8Format::E4M3;
        let amax_s = tensor_scale(f, &v, ScaleMethod::default());
        let mse_s = tensor_scale(f, &v, ScaleMethod::Mse { candidates: 25 });
        assert!(squared_error(f, &v, mse_s) <= squared_error(f, &v, amax_s));
    }

    #[test]
    fn per_channel_and_history() {
        let w = array![[1.0f32, -4.0], [0.5, 0.25]].into_dyn();
        let s = channel_scales(Fp8Format::E4M3, &w, 0, ScaleMethod::default());
        assert_eq!(s, vec![4.0 / 448.0, 0.5 / 448.0]);
        let mut h = AmaxHistory::new(2);
        h.push(8.0);
        h.record(&[1.0, -2.0]);
        assert_eq!(h.amax(), 8.0);
        h.push(1.0);
        assert_eq!(h.amax(), 2.0);
        assert_eq!(h.scale(Fp8Format::E5M2, 0), 2.0 / 57344.0);
    }
}
