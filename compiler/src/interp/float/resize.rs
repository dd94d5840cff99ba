//! N-d Resize with ONNX semantics: nearest (any dtype), linear and cubic (f32), with
//! antialiasing, `exclude_outside` and TensorFlow's crop-and-resize.
//!
//! Every mode is separable, so each axis is resized in turn, as ONNX's reference does:
//! an output index of an axis is a weighted sum of a few input indices ("taps"), with
//! indices past the ends reading the edge element. Axes whose mapping is the identity
//! are skipped.

use super::util::{any_variant, arity, f32_input, input, standard};
use crate::interp::Operand;
use crate::ir::{CoordTransform, NearestRounding, ResizeMode, ResizeSpec, Tensor};
use crate::{bail, Result};
use ndarray::{ArrayD, Axis};

/// How one output index of an axis is computed.
#[derive(Debug, PartialEq)]
enum Sample {
    /// `sum(weight * x[index])`.
    Taps(Vec<(usize, f32)>),
    /// Outside a crop box: the extrapolation value.
    Outside,
}

impl ResizeSpec<'_> {
    /// The scale of `axis`: ONNX's `scales` input if given, else `sizes / len_in`.
    fn scale(&self, axis: usize, len_in: usize) -> f64 {
        match self.scales {
            Some(s) => s[axis] as f64,
            None => self.sizes[axis] as f64 / len_in as f64,
        }
    }

    /// Input coordinate of output index `x` along `axis` of `len_in` elements (ONNX's
    /// `coordinate_transformation_mode`). Like ONNX's reference, the output length in the
    /// formulas is `scale * len_in`, which differs from the output size only for explicit
    /// scales.
    fn source(&self, x: usize, axis: usize, len_in: usize) -> f64 {
        let x = x as f64;
        let len_out = self.sizes[axis];
        let scale = self.scale(axis, len_in);
        let resized = match self.scales {
            Some(_) => scale * len_in as f64,
            None => len_out as f64,
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
            CoordTransform::TfCropAndResize => {
                let (start, end) = self.filter.roi.as_ref().map_or((0.0, 1.0), |r| r[axis]);
                let (start, end) = (start as f64, end as f64);
                let span = (end - start) * (len_in as f64 - 1.0);
                let offset = if len_out == 1 {
                    span / 2.0
                } else {
                    x * span / (len_out as f64 - 1.0)
                };
                offset + start * (len_in as f64 - 1.0)
            }
        }
    }

    /// The nearest input index for output index `x` of `axis`.
    fn nearest_index(&self, x: usize, axis: usize, len_in: usize) -> usize {
        let s = self.source(x, axis, len_in);
        let r = match self.nearest {
            NearestRounding::RoundPreferFloor => (s - 0.5).ceil(),
            NearestRounding::RoundPreferCeil => (s + 0.5).floor(),
            NearestRounding::Floor => s.floor(),
            NearestRounding::Ceil => s.ceil(),
        };
        r.clamp(0.0, len_in as f64 - 1.0) as usize
    }

    /// Filter weights around a source coordinate whose distance to the tap at its left
    /// (or on it) is `ratio` in (0, 1]; the first weight belongs to the tap
    /// `1 - weights.len() / 2` positions left of that one.
    fn weights(&self, ratio: f64, scale: f64) -> Vec<f64> {
        let a = self.filter.cubic_coeff_a as f64;
        let cubic = |d: f64| {
            let d = d.abs();
            if d <= 1.0 {
                ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
            } else if d < 2.0 {
                ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
            } else {
                0.0
            }
        };
        let linear = |d: f64| (1.0 - d.abs()).max(0.0);
        let (kernel, support): (&dyn Fn(f64) -> f64, f64) = match self.mode {
            ResizeMode::Linear => (&linear, 1.0),
            _ => (&cubic, 2.0),
        };
        // Antialiasing stretches the filter by 1 / scale when downsampling.
        let scale = if self.filter.antialias {
            scale.min(1.0)
        } else {
            1.0
        };
        let first = (-support / scale).floor() as i64 + 1;
        let w: Vec<f64> = (first..=1 - first)
            .map(|i| kernel(scale * (i as f64 - ratio)))
            .collect();
        let sum: f64 = w.iter().sum();
        w.into_iter().map(|v| v / sum).collect()
    }

    /// How output index `x` of `axis` is computed from the input's `len_in` elements.
    fn sample(&self, x: usize, axis: usize, len_in: usize) -> Sample {
        let s = self.source(x, axis, len_in);
        let last = len_in as f64 - 1.0;
        if self.coord == CoordTransform::TfCropAndResize && !(0.0..=last).contains(&s) {
            return Sample::Outside;
        }
        if self.mode == ResizeMode::Nearest {
            return Sample::Taps(vec![(self.nearest_index(x, axis, len_in), 1.0)]);
        }
        let left = s.floor();
        let ratio = if s == left { 1.0 } else { s - left };
        let weights = self.weights(ratio, self.scale(axis, len_in));
        let first = left as i64 + 1 - (weights.len() / 2) as i64 - i64::from(s == left);
        let mut taps: Vec<(i64, f64)> = (first..).zip(weights).collect();
        if self.filter.exclude_outside {
            taps.retain(|&(i, _)| (0..len_in as i64).contains(&i));
            let sum: f64 = taps.iter().map(|t| t.1).sum();
            taps.iter_mut().for_each(|t| t.1 /= sum);
        }
        let taps = taps
            .into_iter()
            .filter(|t| t.1 != 0.0)
            .map(|(i, w)| (i.clamp(0, len_in as i64 - 1) as usize, w as f32))
            .collect();
        Sample::Taps(taps)
    }
}

/// Resizes to `spec.sizes`.
pub(super) fn resize(spec: &ResizeSpec<'_>, inputs: &[Operand<'_>]) -> Result<Tensor> {
    arity(inputs, 1, 1)?;
    let x = input(inputs, 0)?;
    let shape = x.shape().to_vec();
    let rank = shape.len();
    if spec.sizes.len() != rank
        || spec.scales.is_some_and(|s| s.len() != rank)
        || spec.filter.roi.as_ref().is_some_and(|r| r.len() != rank)
    {
        bail!(
            "resize sizes {:?} / scales {:?} / roi {:?} do not match rank of {shape:?}",
            spec.sizes,
            spec.scales,
            spec.filter.roi
        );
    }
    if let Some(a) = (0..rank).find(|&a| shape[a] == 0 && spec.sizes[a] > 0) {
        bail!("cannot resize empty axis {a} of {shape:?}");
    }
    let plans: Vec<Vec<Sample>> = (0..rank)
        .map(|a| {
            (0..spec.sizes[a])
                .map(|x| spec.sample(x, a, shape[a]))
                .collect()
        })
        .collect();
    let is_identity = |a: usize, plan: &[Sample]| {
        plan.len() == shape[a]
            && plan
                .iter()
                .enumerate()
                .all(|(i, s)| *s == Sample::Taps(vec![(i, 1.0)]))
    };
    let extrapolates = plans.iter().flatten().any(|s| *s == Sample::Outside);
    if spec.mode == ResizeMode::Nearest && !extrapolates {
        return Ok(any_variant!(x, V(data) => {
            let mut out = data.clone();
            for (a, plan) in plans.iter().enumerate() {
                if !is_identity(a, plan) {
                    let map: Vec<usize> = plan
                        .iter()
                        .map(|s| match s {
                            Sample::Taps(t) => t[0].0,
                            Sample::Outside => unreachable!("checked above"),
                        })
                        .collect();
                    out = out.select(Axis(a), &map);
                }
            }
            V(standard(out))
        }));
    }
    let mut out = f32_input(inputs, 0, "interpolating resize input")?.clone();
    for (a, plan) in plans.iter().enumerate() {
        if !is_identity(a, plan) {
            out = resample_axis(&out, a, plan, spec.filter.extrapolation_value);
        }
    }
    Ok(Tensor::F32(standard(out)))
}

/// Applies `plan` (one sample per output index) along `axis`.
fn resample_axis(x: &ArrayD<f32>, axis: usize, plan: &[Sample], outside: f32) -> ArrayD<f32> {
    let mut shape = x.shape().to_vec();
    shape[axis] = plan.len();
    let mut out = ArrayD::<f32>::zeros(shape);
    for (mut o, sample) in out.axis_iter_mut(Axis(axis)).zip(plan) {
        match sample {
            Sample::Outside => o.fill(outside),
            Sample::Taps(taps) => {
                for &(i, w) in taps {
                    o.scaled_add(w, &x.index_axis(Axis(axis), i));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::float::util::tests::{assert_close, f32t, op};
    use crate::ir::ResizeFilter;

    fn run(
        mode: ResizeMode,
        coord: CoordTransform,
        nearest: NearestRounding,
        x: &Tensor,
        sizes: &[usize],
        scales: Option<&[f32]>,
    ) -> Vec<f64> {
        let spec = ResizeSpec {
            mode,
            coord,
            nearest,
            sizes,
            scales,
            filter: &ResizeFilter::default(),
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
        let spec = ResizeSpec {
            mode: ResizeMode::Nearest,
            coord: CoordTransform::Asymmetric,
            nearest: NearestRounding::Floor,
            sizes: &[1, 1, 4, 4],
            scales: None,
            filter: &ResizeFilter::default(),
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
        let spec = ResizeSpec {
            mode: ResizeMode::Linear,
            coord: CoordTransform::AlignCorners,
            nearest: NearestRounding::Floor,
            sizes: &[1, 1, 3, 3],
            scales: None,
            filter: &ResizeFilter::default(),
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
        let bad = ResizeSpec {
            sizes: &[1, 3],
            ..spec
        };
        assert!(resize(&bad, &[op(&x)]).is_err());
    }

    /// Resizes `[1, 2, 4, 8, 16]` (half pixel, ONNX sizes) with `filter`.
    fn filtered(
        mode: ResizeMode,
        coord: CoordTransform,
        len: usize,
        filter: ResizeFilter,
    ) -> Vec<f64> {
        let spec = ResizeSpec {
            mode,
            coord,
            nearest: NearestRounding::RoundPreferFloor,
            sizes: &[1, len],
            scales: None,
            filter: &filter,
        };
        resize(&spec, &[op(&row(&[1.0, 2.0, 4.0, 8.0, 16.0]))])
            .unwrap()
            .to_f64_vec()
    }

    fn assert_all_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-5 * w.abs().max(1.0),
                "{got:?} != {want:?}"
            );
        }
    }

    // Expected values below come from ONNX's reference implementation
    // (`onnx.reference.ReferenceEvaluator`, onnx 1.23) on the same input and attributes.

    #[test]
    fn cubic_matches_onnx_reference() {
        let f = ResizeFilter::default();
        let up = filtered(ResizeMode::Cubic, CoordTransform::HalfPixel, 8, f.clone());
        let want = [
            0.90716552734375,
            1.268310546875,
            2.12957763671875,
            3.02252197265625,
            4.9881591796875,
            7.4771728515625,
            12.884521484375,
            16.74267578125,
        ];
        assert_all_close(&up, &want);
        let tf = ResizeFilter {
            cubic_coeff_a: -0.5,
            exclude_outside: true,
            ..f
        };
        let down = filtered(ResizeMode::Cubic, CoordTransform::HalfPixel, 3, tf);
        assert_all_close(&down, &[1.206897497177124, 4.0, 13.931031227111816]);
    }

    #[test]
    fn antialias_widens_the_filter_when_downsampling() {
        let aa = ResizeFilter {
            antialias: true,
            ..ResizeFilter::default()
        };
        let lin = filtered(ResizeMode::Linear, CoordTransform::HalfPixel, 2, aa.clone());
        assert_all_close(&lin, &[2.240000009536743, 10.15999984741211]);
        let cub = filtered(ResizeMode::Cubic, CoordTransform::HalfPixel, 2, aa);
        assert_all_close(&cub, &[1.4075013399124146, 10.465998649597168]);
    }

    #[test]
    fn crop_and_resize_extrapolates_outside_the_input() {
        let crop = ResizeFilter {
            roi: Some(vec![(0.0, 1.0), (0.5, 1.5)]),
            extrapolation_value: -1.0,
            ..ResizeFilter::default()
        };
        let got = filtered(ResizeMode::Linear, CoordTransform::TfCropAndResize, 4, crop);
        assert_all_close(&got, &[4.0, 10.666666984558105, -1.0, -1.0]);
    }
}
