//! N-d Resize with ONNX semantics: nearest (any dtype) and linear (f32).
//!
//! Both modes are separable, so each axis is resized in turn; axes whose mapping is the
//! identity are skipped.

use super::util::{any_variant, arity, f32_input, input, standard};
use crate::interp::Operand;
use crate::ir::{CoordTransform, NearestRounding, ResizeMode, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, Axis, Zip};

/// The attributes of a Resize.
pub(super) struct Spec<'a> {
    pub mode: ResizeMode,
    pub coord: CoordTransform,
    pub nearest: NearestRounding,
    pub sizes: &'a [usize],
    pub scales: Option<&'a [f32]>,
}

impl Spec<'_> {
    /// Input coordinate of output index `x` along `axis` of `len_in` elements (ONNX's
    /// `coordinate_transformation_mode`). Like ONNX's reference, the output length in the
    /// formulas is `scale * len_in`, which differs from the output size only for explicit
    /// scales.
    fn source(&self, x: usize, axis: usize, len_in: usize) -> f64 {
        let x = x as f64;
        let len_out = self.sizes[axis];
        let (scale, resized) = match self.scales {
            Some(s) => (s[axis] as f64, s[axis] as f64 * len_in as f64),
            None => (len_out as f64 / len_in as f64, len_out as f64),
        };
        match self.coord {
            CoordTransform::HalfPixel => (x + 0.5) / scale - 0.5,
            CoordTransform::PytorchHalfPixel if resized == 1.0 => -0.5,
            CoordTransform::PytorchHalfPixel => (x + 0.5) / scale - 0.5,
            CoordTransform::AlignCorners if resized == 1.0 => 0.0,
            CoordTransform::AlignCorners => x * (len_in as f64 - 1.0) / (resized - 1.0),
            CoordTransform::Asymmetric => x / scale,
            CoordTransform::TfHalfPixelForNn => (x + 0.5) / scale,
            CoordTransform::HalfPixelSymmetric => {
                let offset = len_in as f64 / 2.0 * (1.0 - len_out as f64 / resized);
                offset + (x + 0.5) / scale - 0.5
            }
        }
    }

    /// The nearest input index for each output index of `axis`.
    fn nearest_map(&self, axis: usize, len_in: usize) -> Vec<usize> {
        (0..self.sizes[axis])
            .map(|x| {
                let s = self.source(x, axis, len_in);
                let r = match self.nearest {
                    NearestRounding::RoundPreferFloor => (s - 0.5).ceil(),
                    NearestRounding::RoundPreferCeil => (s + 0.5).floor(),
                    NearestRounding::Floor => s.floor(),
                    NearestRounding::Ceil => s.ceil(),
                };
                r.clamp(0.0, len_in as f64 - 1.0) as usize
            })
            .collect()
    }

    /// For each output index of `axis`: the lower input index, the upper one, and the
    /// weight of the upper one (source coordinates clamped into the input).
    fn linear_map(&self, axis: usize, len_in: usize) -> (Vec<usize>, Vec<usize>, Vec<f32>) {
        let len_out = self.sizes[axis];
        let last = len_in - 1;
        let mut lo = Vec::with_capacity(len_out);
        let mut hi = Vec::with_capacity(len_out);
        let mut frac = Vec::with_capacity(len_out);
        for x in 0..len_out {
            let s = self.source(x, axis, len_in).clamp(0.0, last as f64);
            let l = (s.floor() as usize).min(last);
            lo.push(l);
            hi.push((l + 1).min(last));
            frac.push((s - l as f64) as f32);
        }
        (lo, hi, frac)
    }
}

/// Resizes to `spec.sizes`.
pub(super) fn resize(spec: &Spec<'_>, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    let shape = x.shape().to_vec();
    if spec.sizes.len() != shape.len() || spec.scales.is_some_and(|s| s.len() != shape.len()) {
        bail!(
            "resize sizes {:?} / scales {:?} do not match rank of {shape:?}",
            spec.sizes,
            spec.scales
        );
    }
    if let Some(a) = (0..shape.len()).find(|&a| shape[a] == 0 && spec.sizes[a] > 0) {
        bail!("cannot resize empty axis {a} of {shape:?}");
    }
    let is_identity = |a: usize, map: &[usize]| {
        map.len() == shape[a] && map.iter().enumerate().all(|(i, &m)| i == m)
    };
    match spec.mode {
        ResizeMode::Nearest => {
            let maps: Vec<Vec<usize>> = (0..shape.len())
                .map(|a| spec.nearest_map(a, shape[a]))
                .collect();
            Ok(any_variant!(x, V(data) => {
                let mut out = data.clone();
                for (a, map) in maps.iter().enumerate() {
                    if !is_identity(a, map) {
                        out = out.select(Axis(a), map);
                    }
                }
                V(standard(out))
            }))
        }
        ResizeMode::Linear => {
            let mut out = f32_input(inputs, 0, "linear resize input")?.clone();
            for (a, &len_in) in shape.iter().enumerate() {
                if spec.sizes[a] == 0 {
                    out = out.select(Axis(a), &[]);
                    continue;
                }
                let (lo, hi, frac) = spec.linear_map(a, len_in);
                if is_identity(a, &lo) && frac.iter().all(|&f| f == 0.0) {
                    continue;
                }
                out = interpolate(&out, a, &lo, &hi, &frac);
            }
            Ok(Tensor::F32(standard(out)))
        }
    }
}

/// `(1 - f) * x[lo] + f * x[hi]` along `axis`, per output index.
fn interpolate(
    x: &ArrayD<f32>,
    axis: usize,
    lo: &[usize],
    hi: &[usize],
    frac: &[f32],
) -> ArrayD<f32> {
    let mut out = x.select(Axis(axis), lo);
    let upper = x.select(Axis(axis), hi);
    for ((mut o, u), &f) in out
        .axis_iter_mut(Axis(axis))
        .zip(upper.axis_iter(Axis(axis)))
        .zip(frac)
    {
        if f != 0.0 {
            Zip::from(&mut o)
                .and(&u)
                .for_each(|o, &u| *o = (1.0 - f) * *o + f * u);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, f32t, op};

    fn run(
        mode: ResizeMode,
        coord: CoordTransform,
        nearest: NearestRounding,
        x: &Tensor,
        sizes: &[usize],
        scales: Option<&[f32]>,
    ) -> Vec<f64> {
        let spec = Spec {
            mode,
            coord,
            nearest,
            sizes,
            scales,
        };
        resize(&spec, &[op(x)]).unwrap().to_f64_vec()
    }

    fn row(v: &[f32]) -> Tensor {
        f32t(&[1, v.len()], v)
    }

    #[test]
    fn nearest_rounding_modes() {
        let x = row(&[1.0, 2.0, 3.0, 4.0]);
        use NearestRounding::*;
        // Asymmetric 4 -> 8: source x / 2 = 0, .5, 1, 1.5, ...
        let up = |r| {
            run(
                ResizeMode::Nearest,
                CoordTransform::Asymmetric,
                r,
                &x,
                &[1, 8],
                None,
            )
        };
        assert_eq!(up(Floor), [1., 1., 2., 2., 3., 3., 4., 4.]);
        assert_eq!(up(Ceil), [1., 2., 2., 3., 3., 4., 4., 4.]);
        assert_eq!(up(RoundPreferFloor), [1., 1., 2., 2., 3., 3., 4., 4.]);
        assert_eq!(up(RoundPreferCeil), [1., 2., 2., 3., 3., 4., 4., 4.]);
        // Half pixel 4 -> 8: sources -0.25, 0.25, 0.75, 1.25, ...
        let hp = run(
            ResizeMode::Nearest,
            CoordTransform::HalfPixel,
            RoundPreferFloor,
            &x,
            &[1, 8],
            None,
        );
        assert_eq!(hp, [1., 1., 2., 2., 3., 3., 4., 4.]);
        // TF half pixel for NN, 4 -> 3 with floor: (x + 0.5) * 4 / 3 = 0.67, 2, 3.33.
        let tf = run(
            ResizeMode::Nearest,
            CoordTransform::TfHalfPixelForNn,
            Floor,
            &x,
            &[1, 3],
            None,
        );
        assert_eq!(tf, [1., 3., 4.]);
        // Align corners 4 -> 3: sources 0, 1.5, 3.
        let ac = run(
            ResizeMode::Nearest,
            CoordTransform::AlignCorners,
            RoundPreferCeil,
            &x,
            &[1, 3],
            None,
        );
        assert_eq!(ac, [1., 3., 4.]);
    }

    #[test]
    fn nearest_works_on_integers_and_several_axes() {
        let x = Tensor::I8(
            ndarray::ArrayD::from_shape_vec(vec![1, 1, 2, 2], vec![1i8, 2, 3, 4]).unwrap(),
        );
        let spec = Spec {
            mode: ResizeMode::Nearest,
            coord: CoordTransform::Asymmetric,
            nearest: NearestRounding::Floor,
            sizes: &[1, 1, 4, 4],
            scales: None,
        };
        let out = resize(&spec, &[op(&x)]).unwrap();
        let want: Vec<f64> = [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]
            .iter()
            .map(|&v| v as f64)
            .collect();
        assert_eq!(out.to_f64_vec(), want);
        assert_eq!(out.dtype(), crate::ir::DType::I8);
    }

    #[test]
    fn linear_coordinate_modes() {
        let x = row(&[1.0, 2.0, 3.0, 4.0]);
        let lin = |coord, sizes: &[usize], scales| {
            run(
                ResizeMode::Linear,
                coord,
                NearestRounding::Floor,
                &x,
                sizes,
                scales,
            )
        };
        // Half pixel 4 -> 8: sources -0.25 (clamped), 0.25, 0.75, ..., 3.25 (clamped).
        assert_eq!(
            lin(CoordTransform::HalfPixel, &[1, 8], None),
            [1.0, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.0]
        );
        // Align corners 4 -> 3: 0, 1.5, 3.
        assert_eq!(
            lin(CoordTransform::AlignCorners, &[1, 3], None),
            [1.0, 2.5, 4.0]
        );
        // Asymmetric 4 -> 3: 0, 1.33, 2.67.
        let a = lin(CoordTransform::Asymmetric, &[1, 3], None);
        assert!((a[1] - 7.0 / 3.0).abs() < 1e-6 && (a[2] - 11.0 / 3.0).abs() < 1e-6);
        // PyTorch half pixel with one output element samples index 0.
        assert_eq!(lin(CoordTransform::PytorchHalfPixel, &[1, 1], None), [1.0]);
        assert_eq!(lin(CoordTransform::HalfPixel, &[1, 1], None), [2.5]);
        // An explicit scale (ONNX `scales` input) drives the transform: 0.6 on 4 gives 2
        // outputs at sources (x + 0.5) / 0.6 - 0.5 = 0.333, 2.0.
        let s = lin(CoordTransform::HalfPixel, &[1, 2], Some(&[1.0, 0.6]));
        assert!((s[0] - 4.0 / 3.0).abs() < 1e-6 && (s[1] - 3.0).abs() < 1e-6);
        // With explicit scales the formulas use the fractional output length 4 * 0.6 = 2.4:
        // align corners maps 1 to 3 / 1.4; half pixel symmetric shifts by 2 * (1 - 2 / 2.4).
        let s = lin(CoordTransform::AlignCorners, &[1, 2], Some(&[1.0, 0.6]));
        assert!((s[0] - 1.0).abs() < 1e-6 && (s[1] - (1.0 + 3.0 / 1.4)).abs() < 1e-6);
        let s = lin(
            CoordTransform::HalfPixelSymmetric,
            &[1, 2],
            Some(&[1.0, 0.6]),
        );
        assert!((s[0] - 5.0 / 3.0).abs() < 1e-6 && (s[1] - 10.0 / 3.0).abs() < 1e-6);
        assert_eq!(
            lin(CoordTransform::HalfPixelSymmetric, &[1, 8], None),
            lin(CoordTransform::HalfPixel, &[1, 8], None)
        );
    }

    #[test]
    fn bilinear_matches_direct_formula() {
        let x = f32t(&[1, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let spec = Spec {
            mode: ResizeMode::Linear,
            coord: CoordTransform::AlignCorners,
            nearest: NearestRounding::Floor,
            sizes: &[1, 1, 3, 3],
            scales: None,
        };
        let Tensor::F32(o) = resize(&spec, &[op(&x)]).unwrap() else {
            panic!()
        };
        let want = f32t(
            &[1, 1, 3, 3],
            &[1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0],
        );
        assert_close(&o, want.as_f32().unwrap(), 1e-6);
        let i = Tensor::I32(ndarray::ArrayD::from_elem(vec![1, 1, 2, 2], 1));
        assert!(resize(&spec, &[op(&i)]).is_err());
        let bad = Spec {
            sizes: &[1, 3],
            ..spec
        };
        assert!(resize(&bad, &[op(&x)]).is_err());
    }
}
