//! SVDF on f32 operands, with TFLite's loop order (see [`crate::ir::Op::Svdf`]).

use super::util::{activate, f32_input};
use crate::interp::svdf_shape::SvdfShape;
use crate::interp::Operand;
use crate::ir::{Activation, Tensor};
use crate::{Error, Result};
use ndarray::{ArrayD, IxDyn};

/// One SVDF step: `(y, next_state)`.
pub(super) fn svdf(
    rank: usize,
    act: Option<Activation>,
    inputs: &[Operand<'_>],
) -> Result<Vec<Tensor>> {
    let d = SvdfShape::of(inputs, rank)?;
    let flat = |i: usize, what: &str| -> Result<Vec<f32>> {
        Ok(f32_input(inputs, i, what)?.iter().copied().collect())
    };
    let (x, wf, wt) = (
        flat(0, "svdf input")?,
        flat(1, "svdf feature weights")?,
        flat(2, "svdf time weights")?,
    );
    let mut state = d.shifted(&flat(3, "svdf state")?);
    let bias = match inputs.get(4) {
        Some(_) => flat(4, "svdf bias")?,
        None => vec![0.0; d.units()],
    };
    let (m, units) = (d.memory, d.units());
    let mut y = Vec::with_capacity(d.batch * units);
    for b in 0..d.batch {
        let xb = &x[b * d.input..(b + 1) * d.input];
        for f in 0..d.filters {
            let w = &wf[f * d.input..(f + 1) * d.input];
            let dot = w.iter().zip(xb).fold(0.0f32, |acc, (w, x)| acc + w * x);
            state[(b * d.filters + f) * m + m - 1] = dot;
        }
        let filter_sums: Vec<f32> = (0..d.filters)
            .map(|f| {
                let row = &state[(b * d.filters + f) * m..(b * d.filters + f + 1) * m];
                let w = &wt[f * m..(f + 1) * m];
                w.iter().zip(row).fold(0.0f32, |acc, (w, s)| acc + w * s)
            })
            .collect();
        for (u, &bias) in bias.iter().enumerate() {
            let sum = filter_sums[u * rank..(u + 1) * rank]
                .iter()
                .fold(bias, |acc, v| acc + v);
            y.push(sum);
        }
    }
    let shape = |s: Vec<usize>, v: Vec<f32>| {
        ArrayD::from_shape_vec(IxDyn(&s), v).map_err(|e| Error::new(e.to_string()))
    };
    let mut y = shape(vec![d.batch, units], y)?;
    activate(&mut y, act);
    let next = shape(vec![d.batch, d.filters * m], state)?;
    Ok(vec![Tensor::F32(y), Tensor::F32(next)])
}

#[cfg(test)]
mod tests {
    use super::super::util::tests::{op, rand};
    use super::*;

    /// SVDF written out in f64 from its definition: one step of a sliding window of
    /// `memory` feature projections per filter.
    fn reference(x: &[f32], wf: &[f32], wt: &[f32], state: &[f32], bias: &[f32]) -> Vec<Vec<f64>> {
        let (batch, input, filters, memory, rank) = (2, 5, 6, 3, 2);
        let mut out = vec![vec![0.0; filters / rank]; batch];
        for (b, row) in out.iter_mut().enumerate() {
            for f in 0..filters {
                // Window: the state's last memory - 1 entries of this filter, then the new one.
                let mut window: Vec<f64> = (1..memory)
                    .map(|m| state[(b * filters + f) * memory + m] as f64)
                    .collect();
                window.push(
                    (0..input)
                        .map(|i| wf[f * input + i] as f64 * x[b * input + i] as f64)
                        .sum(),
                );
                let v: f64 = (0..memory)
                    .map(|m| wt[f * memory + m] as f64 * window[m])
                    .sum();
                row[f / rank] += v;
            }
            for (u, y) in row.iter_mut().enumerate() {
                *y = (*y + bias[u] as f64).max(0.0);
            }
        }
        out
    }

    #[test]
    fn one_step_matches_its_definition() {
        let t = |s: &[usize], seed| Tensor::F32(rand(s, seed));
        let (x, wf, wt, state, bias) = (
            t(&[2, 5], 1),
            t(&[6, 5], 2),
            t(&[6, 3], 3),
            t(&[2, 18], 4),
            t(&[3], 5),
        );
        let ins = [op(&x), op(&wf), op(&wt), op(&state), op(&bias)];
        let out = svdf(2, Some(Activation::Relu), &ins).unwrap();
        let flat = |t: &Tensor| t.as_f32().unwrap().iter().copied().collect::<Vec<f32>>();
        let want = reference(
            &flat(&x),
            &flat(&wf),
            &flat(&wt),
            &flat(&state),
            &flat(&bias),
        );
        let got = flat(&out[0]);
        for (g, w) in got.iter().zip(want.iter().flatten()) {
            assert!((*g as f64 - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
        // The next state is the old one shifted by one step, with the new projections last.
        let (s0, s1) = (flat(&state), flat(&out[1]));
        assert_eq!(s1[0..2], s0[1..3]);
        let newest: f32 = (0..5).map(|i| flat(&wf)[i] * flat(&x)[i]).sum();
        assert!((s1[2] - newest).abs() < 1e-6);
    }
}
