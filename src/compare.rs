//! What `nnopt compare` measures between two runs of a model's output (or a run and a
//! reference `.npy`): errors in real values, signal-to-noise ratio and top-1 agreement.

use serde::Serialize;

/// How far `values` are from `reference`, both in real (dequantized) values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputDiff {
    pub name: String,
    pub shape: Vec<usize>,
    /// Largest `|value - reference|`.
    pub max_abs_error: f64,
    /// Mean `|value - reference|`.
    pub mean_abs_error: f64,
    /// `max_abs_error` relative to the reference's largest magnitude (0 when both are 0).
    pub max_rel_error: f64,
    /// `10 log10(sum reference² / sum (value - reference)²)` in dB; infinite (`null` in
    /// JSON) when the two are equal.
    pub snr_db: f64,
    /// For classifier-shaped outputs (`[k, C]`, `[1, ..., 1, C]`): the rows whose best
    /// class is the same, and the number of rows.
    pub top1_agree: Option<(usize, usize)>,
    /// Values that are NaN on one side only (counted as infinitely wrong).
    pub nan_mismatches: usize,
}

/// Compares `values` with `reference` (equal lengths, real values) for an output called
/// `name` of `shape`.
pub fn diff(name: &str, shape: &[usize], values: &[f64], reference: &[f64]) -> OutputDiff {
    assert_eq!(
        values.len(),
        reference.len(),
        "compared outputs differ in size"
    );
    let (mut max_abs, mut sum_abs, mut signal, mut noise, mut ref_max) =
        (0f64, 0f64, 0f64, 0f64, 0f64);
    let mut nan_mismatches = 0;
    for (&v, &r) in values.iter().zip(reference) {
        if v.is_nan() || r.is_nan() {
            nan_mismatches += usize::from(v.is_nan() != r.is_nan());
            continue;
        }
        // Equal infinities are no error; anything else involving one is infinite.
        let e = if v == r { 0.0 } else { (v - r).abs() };
        max_abs = max_abs.max(e);
        sum_abs += e;
        signal += r * r;
        noise += e * e;
        ref_max = ref_max.max(r.abs());
    }
    if nan_mismatches > 0 {
        max_abs = f64::INFINITY;
        noise = f64::INFINITY;
    }
    let counted = values.len().max(1) as f64;
    let max_rel_error = if max_abs == 0.0 {
        0.0
    } else if ref_max > 0.0 {
        max_abs / ref_max
    } else {
        f64::INFINITY
    };
    let snr_db = if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    };
    let top1_agree = crate::run_report::classes(shape).map(|c| {
        let rows = values.len() / c;
        let agree = values
            .chunks(c)
            .zip(reference.chunks(c))
            .filter(|(a, b)| argmax(a) == argmax(b))
            .count();
        (agree, rows)
    });
    OutputDiff {
        name: name.to_string(),
        shape: shape.to_vec(),
        max_abs_error: max_abs,
        mean_abs_error: sum_abs / counted,
        max_rel_error,
        snr_db,
        top1_agree,
        nan_mismatches,
    }
}

/// The index of the largest value (the first of equals; NaNs never win).
fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = k;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_outputs_have_no_error_and_infinite_snr() {
        let d = diff("y", &[1, 3], &[1.0, -2.0, 0.5], &[1.0, -2.0, 0.5]);
        assert_eq!(d.max_abs_error, 0.0);
        assert_eq!(d.max_rel_error, 0.0);
        assert!(d.snr_db.is_infinite());
        assert_eq!(d.top1_agree, Some((1, 1)));
    }

    #[test]
    fn errors_snr_and_top1_are_measured() {
        // Reference rows: best classes 2 and 0; the run gets row 0 right and row 1 wrong.
        let reference = [0.0, 1.0, 3.0, 4.0, 0.0, 0.0];
        let values = [0.0, 1.0, 2.0, 0.0, 1.0, 0.0];
        let d = diff("y", &[2, 3], &values, &reference);
        assert_eq!(d.max_abs_error, 4.0);
        assert!((d.mean_abs_error - 1.0).abs() < 1e-12);
        assert_eq!(d.max_rel_error, 1.0);
        // signal 26, noise 1 + 16 + 1 = 18.
        assert!((d.snr_db - 10.0 * (26.0f64 / 18.0).log10()).abs() < 1e-12);
        assert_eq!(d.top1_agree, Some((1, 2)));
    }

    #[test]
    fn one_sided_nans_are_counted() {
        let d = diff("y", &[3], &[f64::NAN, 1.0, f64::NAN], &[0.0, 1.0, f64::NAN]);
        assert_eq!(d.nan_mismatches, 1);
        assert!(d.max_abs_error.is_infinite());
        assert_eq!(d.top1_agree, None);
    }
}
