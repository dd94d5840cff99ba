//! Information estimates (bits) from a table of counts: plug-in and Miller–Madow.
//!
//! The plug-in mutual information of N samples over a table is biased upwards, by about
//! (K_xy − K_x − K_y + 1) / (2 N ln 2) bits with K the occupied cells and margins; the
//! Miller–Madow estimate subtracts that first-order bias (it can fall below 0).

/// Plug-in entropy of `counts` in bits.
pub fn entropy(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// Mutual information of a joint table `joint[x][y]` (rows of equal length).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Information {
    /// Plug-in estimate H(X) + H(Y) − H(X, Y).
    pub plug_in: f64,
    /// Miller–Madow: the plug-in less its first-order bias.
    pub miller_madow: f64,
    /// Plug-in H(X) (of the rows).
    pub row_entropy: f64,
}

/// The mutual information between the rows and the columns of `joint`.
pub fn mutual_information(joint: &[Vec<u64>]) -> Information {
    let cols = joint.first().map_or(0, Vec::len);
    let rows: Vec<u64> = joint.iter().map(|r| r.iter().sum()).collect();
    let columns: Vec<u64> = (0..cols)
        .map(|c| joint.iter().map(|r| r[c]).sum())
        .collect();
    let cells: Vec<u64> = joint.iter().flatten().copied().collect();
    let n: u64 = cells.iter().sum();
    let (hx, hy, hxy) = (entropy(&rows), entropy(&columns), entropy(&cells));
    let occupied = |v: &[u64]| v.iter().filter(|&&c| c > 0).count() as f64;
    let plug_in = (hx + hy - hxy).max(0.0);
    let bias = if n > 0 {
        (occupied(&cells) - occupied(&rows) - occupied(&columns) + 1.0)
            / (2.0 * n as f64 * std::f64::consts::LN_2)
    } else {
        0.0
    };
    Information {
        plug_in,
        miller_madow: plug_in - bias,
        row_entropy: hx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_by_hand() {
        assert_eq!(entropy(&[5, 5]), 1.0);
        assert_eq!(entropy(&[3, 0, 0]), 0.0);
        assert!((entropy(&[1, 1, 2]) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn information_of_a_copy_and_of_independence() {
        // Y = X over 4 equally likely values: 2 bits.
        let copy: Vec<Vec<u64>> = (0..4)
            .map(|i| (0..4).map(|j| if i == j { 10 } else { 0 }).collect())
            .collect();
        let i = mutual_information(&copy);
        assert!((i.plug_in - 2.0).abs() < 1e-12);
        assert!((i.row_entropy - 2.0).abs() < 1e-12);
        // Bias: (4 − 4 − 4 + 1) / (2 · 40 ln 2) < 0, so Miller–Madow is above.
        assert!(i.miller_madow > i.plug_in);
        // Independent and uniform: 0, and Miller–Madow below it.
        let flat = vec![vec![5u64; 3]; 3];
        let i = mutual_information(&flat);
        assert!(i.plug_in.abs() < 1e-12);
        assert!(i.miller_madow < 0.0);
    }
}
