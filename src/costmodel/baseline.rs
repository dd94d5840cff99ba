//! Baselines a learned cost model has to beat, fitted by least squares in log space:
//! - [`LinearBaseline`]: network cycles from log MACs, log weight bytes and log
//!   activation bytes (the "FLOPs/params regression");
//! - [`PerOpBaseline`]: nn-Meter's idea with linear models: one model of Vela's cycles
//!   per operator type, from the operator's log MACs and bytes, summed over the network.

use super::dataset::Record;
use nnopt_costmodel::features::NodeFeatures;
use std::collections::BTreeMap;

/// Network features: a constant, then `ln(1 + x)` of MACs, weight bytes and activation
/// bytes.
fn network_features(r: &Record) -> Vec<f64> {
    let weights: u64 = r.graph.nodes.iter().map(|n| n.weight_bytes).sum();
    let activations: u64 = r.graph.nodes.iter().map(|n| n.output_bytes).sum();
    vec![
        1.0,
        (r.macs as f64).ln_1p(),
        (weights as f64).ln_1p(),
        (activations as f64).ln_1p(),
    ]
}

/// Operator features: a constant, then `ln(1 + x)` of MACs, weight, input and output
/// bytes, and whether it is grouped (depthwise).
fn node_features(n: &NodeFeatures) -> Vec<f64> {
    vec![
        1.0,
        (n.macs as f64).ln_1p(),
        (n.weight_bytes as f64).ln_1p(),
        (n.input_bytes as f64).ln_1p(),
        (n.output_bytes as f64).ln_1p(),
        f64::from(u8::from(n.groups > 1)),
    ]
}

/// A fitted linear model of a log quantity.
#[derive(Clone, Debug, PartialEq)]
struct LogLinear {
    coefficients: Vec<f64>,
}

impl LogLinear {
    /// Fits `ln(y)` on `x` over `(x, y)` rows (y > 0) by least squares with a tiny ridge
    /// term; `None` with fewer rows than features or a singular system.
    fn fit(rows: &[(Vec<f64>, f64)]) -> Option<Self> {
        let k = rows.first()?.0.len();
        if rows.len() < k {
            return None;
        }
        let mut a = vec![vec![0.0f64; k]; k];
        let mut b = vec![0.0f64; k];
        for (x, y) in rows {
            let y = y.ln();
            for i in 0..k {
                b[i] += x[i] * y;
                for (j, aij) in a[i].iter_mut().enumerate() {
                    *aij += x[i] * x[j];
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += 1e-6 * rows.len() as f64;
        }
        solve(a, b).map(|coefficients| LogLinear { coefficients })
    }

    fn predict(&self, x: &[f64]) -> f64 {
        x.iter()
            .zip(&self.coefficients)
            .map(|(x, c)| x * c)
            .sum::<f64>()
            .exp()
    }
}

/// Network cycles from whole-network figures.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearBaseline {
    model: LogLinear,
}

impl LinearBaseline {
    /// Fits over `(record, cycles)` pairs.
    pub fn fit(pairs: &[(&Record, f64)]) -> Option<Self> {
        let rows: Vec<(Vec<f64>, f64)> = pairs
            .iter()
            .map(|&(r, t)| (network_features(r), t))
            .collect();
        LogLinear::fit(&rows).map(|model| LinearBaseline { model })
    }

    /// The predicted cycles of `r`.
    pub fn predict(&self, r: &Record) -> f64 {
        self.model.predict(&network_features(r))
    }
}

/// Network cycles as the sum of per-operator predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct PerOpBaseline {
    /// By operator type; types Vela never showed cycles for predict 0 (reshapes it
    /// removes, activations it fuses).
    by_op: BTreeMap<String, LogLinear>,
}

/// Operator types need this many matched examples for a model of their own.
const MIN_EXAMPLES: usize = 12;

impl PerOpBaseline {
    /// Fits one model per operator type on the operators of `records` matched to the
    /// rows of Vela's per-operator table for `config` ([`vela_cycles_by_node`]).
    pub fn fit(records: &[&Record], config: &str) -> Option<Self> {
        let mut rows: BTreeMap<String, Vec<(Vec<f64>, f64)>> = BTreeMap::new();
        for r in records {
            let cycles = vela_cycles_by_node(r, config);
            for (n, c) in r.graph.nodes.iter().zip(cycles) {
                if c > 0.0 {
                    rows.entry(n.op.clone())
                        .or_default()
                        .push((node_features(n), c));
                }
            }
        }
        let by_op: BTreeMap<String, LogLinear> = rows
            .into_iter()
            .filter(|(_, r)| r.len() >= MIN_EXAMPLES)
            .filter_map(|(op, r)| LogLinear::fit(&r).map(|m| (op, m)))
            .collect();
        (!by_op.is_empty()).then_some(PerOpBaseline { by_op })
    }

    /// The predicted cycles of `r`.
    pub fn predict(&self, r: &Record) -> f64 {
        r.graph
            .nodes
            .iter()
            .filter_map(|n| self.by_op.get(&n.op).map(|m| m.predict(&node_features(n))))
            .sum()
    }
}

/// Vela's cycles per operator of `r` (in `r.graph.nodes` order) for `config`
/// ([`VelaLabel::cycles_by_name`]).
pub fn vela_cycles_by_node(r: &Record, config: &str) -> Vec<f64> {
    let names: Vec<&str> = r.graph.nodes.iter().map(|n| n.name.as_str()).collect();
    r.vela
        .get(config)
        .map_or_else(|| vec![0.0; names.len()], |l| l.cycles_by_name(&names))
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let k = b.len();
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col].clone();
        for row in col + 1..k {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; k];
    for row in (0..k).rev() {
        let rest: f64 = (row + 1..k).map(|j| a[row][j] * x[j]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_linear_system() {
        let a = vec![
            vec![2.0, 0.0, 0.0, 1.0],
            vec![0.0, 3.0, 0.0, 0.0],
            vec![1.0, 0.0, 4.0, 0.0],
            vec![0.0, 1.0, 0.0, 5.0],
        ];
        let x = [1.0, -2.0, 0.5, 3.0];
        let b: Vec<f64> = a
            .iter()
            .map(|r| r.iter().zip(&x).map(|(a, x)| a * x).sum())
            .collect();
        let got = solve(a, b).unwrap();
        for (g, w) in got.iter().zip(x) {
            assert!((g - w).abs() < 1e-12);
        }
        assert!(solve(vec![vec![0.0; 2]; 2], vec![1.0; 2]).is_none());
    }

    #[test]
    fn log_linear_fits_a_power_law() {
        // y = 3 x^2: ln y = ln 3 + 2 ln x.
        let rows: Vec<(Vec<f64>, f64)> = (1..20)
            .map(|x| (vec![1.0, (x as f64).ln()], 3.0 * (x * x) as f64))
            .collect();
        let m = LogLinear::fit(&rows).unwrap();
        assert!((m.predict(&[1.0, 10f64.ln()]) - 300.0).abs() < 0.5);
    }
}
