//! The simplest learned baseline: a least-squares fit of log cycles on log MACs, log
//! parameter bytes and log activation bytes (the "FLOPs/params linear regression" that a
//! learned cost model has to beat).

use super::dataset::Record;

/// Features: a constant, then `ln(1 + x)` of MACs, weight bytes and activation bytes.
const FEATURES: usize = 4;

fn features(r: &Record) -> [f64; FEATURES] {
    let weights: u64 = r.graph.nodes.iter().map(|n| n.weight_bytes).sum();
    let activations: u64 = r.graph.nodes.iter().map(|n| n.output_bytes).sum();
    [
        1.0,
        (r.macs as f64).ln_1p(),
        (weights as f64).ln_1p(),
        (activations as f64).ln_1p(),
    ]
}

/// A fitted linear model of `ln(cycles)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearBaseline {
    coefficients: [f64; FEATURES],
}

impl LinearBaseline {
    /// Fits `ln(truth)` over `(record, truth)` pairs (truth > 0) by least squares (with a
    /// tiny ridge term for stability); `None` with fewer pairs than features.
    pub fn fit(pairs: &[(&Record, f64)]) -> Option<Self> {
        if pairs.len() < FEATURES {
            return None;
        }
        let mut a = [[0.0f64; FEATURES]; FEATURES];
        let mut b = [0.0f64; FEATURES];
        for &(r, truth) in pairs {
            let x = features(r);
            let y = truth.ln();
            for i in 0..FEATURES {
                b[i] += x[i] * y;
                for j in 0..FEATURES {
                    a[i][j] += x[i] * x[j];
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += 1e-9 * pairs.len() as f64;
        }
        solve(a, b).map(|coefficients| LinearBaseline { coefficients })
    }

    /// The predicted cycles of `r`.
    pub fn predict(&self, r: &Record) -> f64 {
        let x = features(r);
        x.iter()
            .zip(&self.coefficients)
            .map(|(x, c)| x * c)
            .sum::<f64>()
            .exp()
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: [[f64; FEATURES]; FEATURES], mut b: [f64; FEATURES]) -> Option<[f64; FEATURES]> {
    for col in 0..FEATURES {
        let pivot = (col..FEATURES).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..FEATURES {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = [0.0; FEATURES];
    for row in (0..FEATURES).rev() {
        let rest: f64 = (row + 1..FEATURES).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::solve;

    #[test]
    fn solves_a_linear_system() {
        let a = [
            [2.0, 0.0, 0.0, 1.0],
            [0.0, 3.0, 0.0, 0.0],
            [1.0, 0.0, 4.0, 0.0],
            [0.0, 1.0, 0.0, 5.0],
        ];
        let x = [1.0, -2.0, 0.5, 3.0];
        let b: Vec<f64> = a
            .iter()
            .map(|r| r.iter().zip(&x).map(|(a, x)| a * x).sum())
            .collect();
        let got = solve(a, [b[0], b[1], b[2], b[3]]).unwrap();
        for (g, w) in got.iter().zip(x) {
            assert!((g - w).abs() < 1e-12);
        }
        assert!(solve([[0.0; 4]; 4], [1.0; 4]).is_none());
    }
}
