//! Splitting training rows among FL clients: IID or label-skewed (Dirichlet).

use nnopt_compiler::{Error, Result};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Gamma};
use std::fmt;
use std::str::FromStr;

/// How training rows are dealt to clients.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Partition {
    /// Shuffled and dealt evenly.
    Iid,
    /// For each class, client shares drawn from a symmetric Dirichlet with this
    /// concentration (smaller is more skewed; Hsu et al. 2019).
    Dirichlet(f64),
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "iid" {
            return Ok(Partition::Iid);
        }
        let alpha = s
            .strip_prefix("dirichlet:")
            .and_then(|a| a.parse::<f64>().ok())
            .filter(|a| a.is_finite() && *a > 0.0);
        alpha.map(Partition::Dirichlet).ok_or_else(|| {
            format!("'{s}' is not a partition: use iid or dirichlet:ALPHA (ALPHA > 0)")
        })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Partition::Iid => write!(f, "iid"),
            Partition::Dirichlet(a) => write!(f, "dirichlet:{a}"),
        }
    }
}

/// Fisher-Yates shuffle.
fn shuffle(v: &mut [usize], rng: &mut impl Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

impl Partition {
    /// Deals `rows` (with `labels` indexed by row) to `clients` clients, each getting at
    /// least `min_rows` (Dirichlet draws are repeated until they do).
    pub fn split(
        self,
        rows: &[usize],
        labels: &[i64],
        clients: usize,
        min_rows: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<Vec<usize>>> {
        if clients == 0 || rows.len() < clients * min_rows {
            return Err(Error::new(format!(
                "{} training rows cannot give {clients} clients {min_rows} rows each",
                rows.len()
            )));
        }
        match self {
            Partition::Iid => {
                let mut r = rows.to_vec();
                shuffle(&mut r, rng);
                let mut parts = vec![Vec::new(); clients];
                for (i, row) in r.into_iter().enumerate() {
                    parts[i % clients].push(row);
                }
                Ok(parts)
            }
            Partition::Dirichlet(alpha) => {
                let gamma = Gamma::new(alpha, 1.0).map_err(|e| Error::new(e.to_string()))?;
                let classes = rows.iter().map(|&r| labels[r]).max().unwrap_or(0) as usize + 1;
                for _ in 0..1000 {
                    let mut parts = vec![Vec::new(); clients];
                    for c in 0..classes {
                        let mut of_class: Vec<usize> = rows
                            .iter()
                            .copied()
                            .filter(|&r| labels[r] == c as i64)
                            .collect();
                        shuffle(&mut of_class, rng);
                        let w: Vec<f64> = (0..clients).map(|_| gamma.sample(rng)).collect();
                        let total: f64 = w.iter().sum();
                        let mut acc = 0.0;
                        let mut start = 0;
                        for (k, wk) in w.iter().enumerate() {
                            acc += wk / total;
                            let end = if k + 1 == clients {
                                of_class.len()
                            } else {
                                ((acc * of_class.len() as f64).round() as usize).min(of_class.len())
                            };
                            parts[k].extend_from_slice(&of_class[start..end.max(start)]);
                            start = end.max(start);
                        }
                    }
                    if parts.iter().all(|p| p.len() >= min_rows) {
                        parts.iter_mut().for_each(|p| p.sort_unstable());
                        return Ok(parts);
                    }
                }
                Err(Error::new(format!(
                    "no Dirichlet({alpha}) split in 1000 draws gave every client {min_rows} rows; use fewer clients or a larger alpha"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn splits_cover_every_row_once() {
        let labels: Vec<i64> = (0..500).map(|i| (i * 7 % 10) as i64).collect();
        let rows: Vec<usize> = (0..500).collect();
        for p in [Partition::Iid, Partition::Dirichlet(0.5)] {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
            let parts = p.split(&rows, &labels, 10, 16, &mut rng).unwrap();
            let mut all: Vec<usize> = parts.concat();
            all.sort_unstable();
            assert_eq!(all, rows, "{p}");
            assert!(parts.iter().all(|q| q.len() >= 16), "{p}");
        }
    }

    #[test]
    fn dirichlet_skews_labels() {
        // Mean over clients of the largest class's share of a client's rows: about 0.1
        // for IID clients, most of the rows for Dirichlet(0.1) clients.
        let labels: Vec<i64> = (0..1000).map(|i| (i % 10) as i64).collect();
        let rows: Vec<usize> = (0..1000).collect();
        let top_share = |p: Partition| {
            let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(2);
            let parts = p.split(&rows, &labels, 10, 1, &mut rng).unwrap();
            parts
                .iter()
                .map(|q| {
                    let top = (0..10)
                        .map(|k| q.iter().filter(|&&r| labels[r] == k).count())
                        .max()
                        .unwrap();
                    top as f64 / q.len() as f64
                })
                .sum::<f64>()
                / 10.0
        };
        let (iid, skewed) = (
            top_share(Partition::Iid),
            top_share(Partition::Dirichlet(0.1)),
        );
        assert!(iid < 0.25, "IID {iid}");
        assert!(skewed > 0.5, "Dirichlet(0.1) {skewed}");
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!("iid".parse::<Partition>().unwrap(), Partition::Iid);
        let d: Partition = "dirichlet:0.5".parse().unwrap();
        assert_eq!(d, Partition::Dirichlet(0.5));
        assert_eq!(d.to_string(), "dirichlet:0.5");
        assert!("dirichlet:-1".parse::<Partition>().is_err());
        assert!("skewed".parse::<Partition>().is_err());
    }
}
