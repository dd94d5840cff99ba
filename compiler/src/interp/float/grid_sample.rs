//! GridSample: the input interpolated at the normalized coordinates of a grid, with the
//! ONNX reference's rounding, borders and reflections.

use super::util::{arity, f32_input};
use crate::interp::Operand;
use crate::ir::{GridPadding, ResizeMode, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, IxDyn};

/// One spatial axis of the input: its size and the borders that reflection and the
/// out-of-range test use (pixel edges, or centres with `align_corners`).
struct Axis {
    size: usize,
    min: f32,
    max: f32,
}

impl Axis {
    fn new(size: usize, align_corners: bool) -> Axis {
        let d = size as f32;
        let (min, max) = if align_corners {
            (0.0, d - 1.0)
        } else {
            (-0.5, d - 0.5)
        };
        Axis { size, min, max }
    }

    /// The pixel coordinate of normalized coordinate `n`.
    fn denormalize(&self, n: f32, align_corners: bool) -> f32 {
        let d = self.size as f32;
        if align_corners {
            (n + 1.0) / 2.0 * (d - 1.0)
        } else {
            ((n + 1.0) * d - 1.0) / 2.0
        }
    }

    /// `x` reflected by the borders until it lies between them.
    fn reflect(&self, x: f32) -> f32 {
        let range = (self.max - self.min) as f64;
        if range <= 0.0 {
            return self.min;
        }
        let (dx, from_min) = if x < self.min {
            ((self.min - x) as f64, true)
        } else if x > self.max {
            ((x - self.max) as f64, false)
        } else {
            return x;
        };
        let n = (dx / range).trunc();
        let r = (dx - n * range) as f32;
        if (n % 2.0 == 0.0) == from_min {
            self.min + r
        } else {
            self.max - r
        }
    }

    /// The input index that integer coordinate `i` reads, or `None` for a zero.
    fn index(&self, i: i64, padding: GridPadding) -> Option<usize> {
        let last = self.size as i64 - 1;
        match padding {
            GridPadding::Zeros => (0..=last).contains(&i).then_some(i as usize),
            GridPadding::Border => Some(i.clamp(0, last) as usize),
            GridPadding::Reflection => {
                Some((self.reflect(i as f32) as i64).clamp(0, last) as usize)
            }
        }
    }
}

/// Keys' cubic convolution weights (`A = -0.75`) of the taps at -1, 0, 1 and 2 from the
/// floor of a coordinate `t` past it.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let near = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// Samples `x` `[N, C, D1..Dr]` at `grid` `[N, O1..Or, r]`.
pub(super) fn grid_sample(
    mode: ResizeMode,
    padding: GridPadding,
    align_corners: bool,
    inputs: &[Operand<'_>],
) -> Result<Tensor> {
    arity(inputs, 2, 2)?;
    let x = f32_input(inputs, 0, "grid_sample data")?;
    let grid = f32_input(inputs, 1, "grid_sample grid")?;
    let (xs, gs) = (x.shape(), grid.shape());
    let r = xs.len().saturating_sub(2);
    if r == 0 || gs.len() != xs.len() || gs[0] != xs[0] || gs[r + 1] != r {
        bail!("grid_sample of {xs:?} needs a grid [N, O1..O{r}, {r}], got {gs:?}");
    }
    let axes: Vec<Axis> = xs[2..]
        .iter()
        .map(|&d| Axis::new(d, align_corners))
        .collect();
    let x = x.as_standard_layout();
    let grid = grid.as_standard_layout();
    let (Some(xv), Some(gv)) = (x.as_slice(), grid.as_slice()) else {
        bail!("grid_sample operands are not contiguous");
    };
    let (n, c) = (xs[0], xs[1]);
    let plane: usize = xs[2..].iter().product();
    let points: usize = gs[1..=r].iter().product();
    let mut out_shape = vec![n, c];
    out_shape.extend_from_slice(&gs[1..=r]);
    let mut out = vec![0f32; n * c * points];
    // The taps of one output point: per axis, (input index or zero, weight).
    let mut taps: Vec<Vec<(Option<usize>, f32)>> = vec![Vec::new(); r];
    for b in 0..n {
        for p in 0..points {
            let coords = &gv[(b * points + p) * r..(b * points + p + 1) * r];
            for (k, axis) in axes.iter().enumerate() {
                // The grid's last axis lists the innermost coordinate first.
                let mut v = axis.denormalize(coords[r - 1 - k], align_corners);
                if mode == ResizeMode::Nearest {
                    v = v.round_ties_even();
                }
                if v < axis.min || v > axis.max {
                    match padding {
                        GridPadding::Border => v = v.clamp(0.0, axis.size as f32 - 1.0),
                        GridPadding::Reflection => v = axis.reflect(v),
                        GridPadding::Zeros => {}
                    }
                }
                let tap = |i: i64, w: f32| (axis.index(i, padding), w);
                let f = v.floor();
                let (i0, t) = (f as i64, v - f);
                taps[k] = match mode {
                    ResizeMode::Nearest => vec![tap(v as i64, 1.0)],
                    ResizeMode::Linear => vec![tap(i0, 1.0 - t), tap(i0.saturating_add(1), t)],
                    ResizeMode::Cubic => {
                        let w = cubic_weights(t);
                        (0..4)
                            .map(|j| tap(i0.saturating_add(j - 1), w[j as usize]))
                            .collect()
                    }
                };
            }
            for ch in 0..c {
                let src = &xv[(b * c + ch) * plane..(b * c + ch + 1) * plane];
                out[(b * c + ch) * points + p] = interpolate(src, &axes, &taps);
            }
        }
    }
    Ok(Tensor::F32(
        ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("one value per output point"),
    ))
}

/// The weighted sum of the taps' values over every combination of one tap per axis.
fn interpolate(src: &[f32], axes: &[Axis], taps: &[Vec<(Option<usize>, f32)>]) -> f32 {
    let mut pick = vec![0usize; taps.len()];
    let mut sum = 0f32;
    loop {
        let mut offset = Some(0usize);
        let mut weight = 1f32;
        for ((axis, t), &j) in axes.iter().zip(taps).zip(&pick) {
            let (i, w) = t[j];
            offset = offset.zip(i).map(|(o, i)| o * axis.size + i);
            weight *= w;
        }
        if let Some(o) = offset {
            sum += weight * src[o];
        }
        let Some(k) = (0..taps.len()).rev().find(|&k| pick[k] + 1 < taps[k].len()) else {
            return sum;
        };
        pick[k] += 1;
        pick[k + 1..].iter_mut().for_each(|j| *j = 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{f32t, op};

    fn sample(mode: ResizeMode, padding: GridPadding, align: bool, g: &[f32]) -> Vec<f32> {
        let x = f32t(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let grid = f32t(&[1, 1, g.len() / 2, 2], g);
        let y = grid_sample(mode, padding, align, &[op(&x), op(&grid)]).unwrap();
        y.as_f32().unwrap().iter().copied().collect()
    }

    #[test]
    fn bilinear_corners_and_centre() {
        let g = [-1.0, -1.0, 1.0, 1.0, 0.0, 0.0, 1.0, -1.0];
        let aligned = sample(ResizeMode::Linear, GridPadding::Zeros, true, &g);
        assert_eq!(aligned, [1.0, 4.0, 2.5, 2.0]);
        // Without alignment the corners are pixel edges: a quarter of the corner pixel.
        let edges = sample(ResizeMode::Linear, GridPadding::Zeros, false, &g);
        assert_eq!(edges, [0.25, 1.0, 2.5, 0.5]);
        let border = sample(ResizeMode::Linear, GridPadding::Border, false, &g);
        assert_eq!(border, [1.0, 4.0, 2.5, 2.0]);
    }

    #[test]
    fn nearest_rounds_half_to_even_and_reflects() {
        // x: pixel 0.5 rounds to 0; y: pixel -1.5 rounds to -2, reflected to 1.
        let g = [0.0, -2.0];
        assert_eq!(
            sample(ResizeMode::Nearest, GridPadding::Reflection, false, &g),
            [3.0]
        );
        assert_eq!(
            sample(ResizeMode::Nearest, GridPadding::Zeros, false, &g),
            [0.0]
        );
    }

    #[test]
    fn cubic_weights_sum_to_one_and_interpolate() {
        for t in [0.0, 0.25, 0.5, 0.9] {
            let s: f32 = cubic_weights(t).iter().sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        assert_eq!(cubic_weights(0.0), [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn bad_grids_are_errors() {
        let x = f32t(&[1, 1, 2, 2], &[0.0; 4]);
        let grid = f32t(&[1, 1, 1, 3], &[0.0; 3]);
        let r = grid_sample(
            ResizeMode::Linear,
            GridPadding::Zeros,
            false,
            &[op(&x), op(&grid)],
        );
        assert!(r.is_err());
    }
}
