//! Einsum equations: parsing (`"bij,bjk->bik"`, implicit outputs, `...`) and the shapes
//! they imply.

use crate::{bail, Result};

/// A parsed equation: one label list per operand and the output's labels. Labels are
/// bytes; the axes of an ellipsis get the labels `0`, `1`, ... (right-aligned).
#[derive(Clone, Debug, PartialEq)]
pub struct Einsum {
    pub inputs: Vec<Vec<u8>>,
    pub output: Vec<u8>,
    /// Size of every label, broadcast over the operands.
    pub sizes: Vec<(u8, usize)>,
}

impl Einsum {
    /// Parses `equation` for operands of `shapes`.
    pub fn parse(equation: &str, shapes: &[&[usize]]) -> Result<Einsum> {
        let eq: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, rhs) = match eq.split_once("->") {
            Some((l, r)) => (l, Some(r)),
            None => (eq.as_str(), None),
        };
        let terms: Vec<&str> = lhs.split(',').collect();
        if terms.len() != shapes.len() {
            bail!(
                "einsum '{equation}' has {} operands, {} given",
                terms.len(),
                shapes.len()
            );
        }
        let mut ellipsis_rank = 0;
        let mut inputs = vec![];
        for (term, shape) in terms.iter().zip(shapes) {
            let named = term.replace("...", "").len();
            let has = term.contains("...");
            if named > shape.len() || (!has && named != shape.len()) {
                bail!("einsum term '{term}' does not fit rank {}", shape.len());
            }
            let e = shape.len() - named;
            ellipsis_rank = ellipsis_rank.max(e);
            inputs.push(expand(term, e)?);
        }
        let mut sizes: Vec<(u8, usize)> = vec![];
        for (labels, shape) in inputs.iter().zip(shapes) {
            for (&l, &d) in labels.iter().zip(shape.iter()) {
                match sizes.iter_mut().find(|(x, _)| *x == l) {
                    Some((_, s)) if *s == d || d == 1 => {}
                    Some((_, s)) if *s == 1 => *s = d,
                    Some((_, s)) => bail!("einsum label '{}' has sizes {s} and {d}", l as char),
                    None => sizes.push((l, d)),
                }
            }
        }
        let output = match rhs {
            Some(r) => expand(r, ellipsis_rank)?,
            None => {
                let mut once: Vec<u8> = sizes
                    .iter()
                    .map(|&(l, _)| l)
                    .filter(|l| l.is_ascii_alphabetic())
                    .filter(|l| inputs.iter().flatten().filter(|x| *x == l).count() == 1)
                    .collect();
                once.sort_unstable();
                let mut out = expand("...", ellipsis_rank)?;
                out.extend(once);
                out
            }
        };
        for l in &output {
            if !sizes.iter().any(|(x, _)| x == l) {
                bail!("einsum output label '{}' is not in any operand", *l as char);
            }
        }
        Ok(Einsum {
            inputs,
            output,
            sizes,
        })
    }

    /// The size of label `l`.
    pub fn size(&self, l: u8) -> usize {
        self.sizes
            .iter()
            .find(|(x, _)| *x == l)
            .map_or(1, |&(_, s)| s)
    }

    /// The output shape.
    pub fn output_shape(&self) -> Vec<usize> {
        self.output.iter().map(|&l| self.size(l)).collect()
    }
}

/// The labels of `term` with its ellipsis replaced by `rank` digit labels.
fn expand(term: &str, rank: usize) -> Result<Vec<u8>> {
    if rank > 10 {
        bail!("an ellipsis of {rank} axes is too many");
    }
    let mut out = vec![];
    let mut rest = term;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("...") {
            out.extend((0..rank as u8).map(|i| b'0' + i + (10 - rank as u8)));
            rest = r;
            continue;
        }
        let c = rest.as_bytes()[0];
        if !c.is_ascii_alphabetic() {
            bail!("einsum label '{}' is not a letter", c as char);
        }
        out.push(c);
        rest = &rest[1..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_implicit_and_ellipsis() {
        let e = Einsum::parse("ij,jk->ik", &[&[2, 3], &[3, 4]]).unwrap();
        assert_eq!(e.output_shape(), [2, 4]);
        let e = Einsum::parse("ij,jk", &[&[2, 3], &[3, 4]]).unwrap();
        assert_eq!(e.output, b"ik");
        let e = Einsum::parse("...ii->...i", &[&[5, 3, 3]]).unwrap();
        assert_eq!(e.output_shape(), [5, 3]);
        assert!(Einsum::parse("ij,jk->il", &[&[2, 3], &[3, 4]]).is_err());
        assert!(Einsum::parse("ij,jk->ik", &[&[2, 3], &[4, 4]]).is_err());
    }
}
