//! Calibration data for int8 quantization: `.npy` files, folders of `.npy` files, or
//! folders of images resized to the model input and normalized, and the options that
//! describe them ([`CalibrationData`] and [`CalibrationArgs`]).

use crate::npy::read_npy;
use image::imageops::FilterType;
use image::DynamicImage;
use nnopt_compiler::ir::{DType, Graph, Layout, Op, Tensor, TensorType};
use nnopt_compiler::{Error, Result};
use nnopt_passes::quantize_int8::{
    is_quantized, quantize_int8, Calibration, CalibrationMethod, QuantReport, QuantizeOptions,
};
use std::path::{Path, PathBuf};

/// Calibration data and how activation ranges are taken from it.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationData {
    /// Calibration data for one model input (repeat once per input, in order): a .npy
    /// file (samples stacked along the batch axis), a folder of .npy files, or a folder
    /// of images (png, jpg). Without it, random inputs are used, with a warning.
    pub calibration: Vec<PathBuf>,
    /// Use at most N calibration samples (files are taken in name order).
    pub calibration_samples: usize,
    /// How activation ranges are chosen: minmax, percentile or mse.
    pub calibration_method: CalibrationMethod,
    /// The percentile kept by --calibration-method percentile.
    pub percentile: f32,
    /// Images: map pixel values 0..255 linearly onto LO..HI (e.g. -1,1). Also the range
    /// of the random inputs when no calibration data is given.
    pub pixel_range: (f32, f32),
    /// Images: per-channel mean subtracted after --pixel-range (one value, or one per
    /// channel).
    pub mean: Vec<f32>,
    /// Images: per-channel standard deviation divided by after --mean.
    pub std: Vec<f32>,
    /// Images: feed channels in BGR order instead of RGB.
    pub bgr: bool,
}

impl Default for CalibrationData {
    fn default() -> Self {
        CalibrationData {
            calibration: vec![],
            calibration_samples: 200,
            calibration_method: CalibrationMethod::Minmax,
            percentile: 99.99,
            pixel_range: (0.0, 1.0),
            mean: vec![],
            std: vec![],
            bgr: false,
        }
    }
}

/// Int8 quantization options: calibration data plus the weight granularity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CalibrationArgs {
    pub data: CalibrationData,
    /// Quantize weights with one scale per tensor instead of per output channel.
    pub per_tensor_weights: bool,
}

/// Number of random samples when no calibration data is given.
pub const SYNTHETIC_SAMPLES: usize = 16;

impl CalibrationArgs {
    /// The quantizer options these arguments select.
    pub fn quantize_options(&self) -> QuantizeOptions {
        QuantizeOptions {
            method: self.data.calibration_method,
            percentile: self.data.percentile,
            per_channel: !self.per_tensor_weights,
            ..Default::default()
        }
    }
}

/// Quantizes `g` to int8 with the calibration data and options of `args` (random inputs
/// when no data is given: the report then carries a warning). An already quantized
/// model is left unchanged and no data is read.
pub fn quantize(g: &mut Graph, args: &CalibrationArgs) -> Result<QuantReport> {
    let calib = if is_quantized(g) {
        Calibration::default()
    } else {
        load_calibration(g, &args.data)?
    };
    quantize_int8(g, &calib, &args.quantize_options())
}

/// Reads the calibration samples that `args` name for the inputs of `g`, or makes
/// [`SYNTHETIC_SAMPLES`] random ones in `--pixel-range` when none are named.
pub fn load_calibration(g: &Graph, args: &CalibrationData) -> Result<Calibration> {
    if args.calibration.is_empty() {
        return Ok(Calibration::synthetic(
            g,
            SYNTHETIC_SAMPLES,
            0,
            args.pixel_range,
        ));
    }
    let inputs = g.inputs();
    if args.calibration.len() != inputs.len() {
        return Err(Error::new(format!(
            "the model has {} inputs but {} --calibration paths were given (one per input)",
            inputs.len(),
            args.calibration.len()
        )));
    }
    let mut per_input = vec![];
    for (k, (path, &n)) in args.calibration.iter().zip(inputs).enumerate() {
        let ty = &g.node(n).outputs[0].ty;
        let spec = InputSpec {
            ty,
            layout: input_layout(g, k),
        };
        let samples = read_source(path, &spec, args).map_err(|e| e.in_file(path))?;
        if samples.is_empty() {
            return Err(Error::new("no calibration samples found").in_file(path));
        }
        per_input.push(samples);
    }
    let count = per_input.iter().map(Vec::len).min().unwrap_or(0);
    if per_input.iter().any(|s| s.len() != count) {
        return Err(Error::new(format!(
            "the --calibration paths give different numbers of samples: {:?}",
            per_input.iter().map(Vec::len).collect::<Vec<_>>()
        )));
    }
    let count = count.min(args.calibration_samples.max(1));
    let samples = (0..count)
        .map(|i| per_input.iter().map(|s| s[i].clone()).collect())
        .collect();
    Ok(Calibration::new(samples))
}

/// A model input: its type and the layout of its channels.
struct InputSpec<'a> {
    ty: &'a TensorType,
    layout: Layout,
}

/// The layout of graph input `k`: from a consumer with a layout attribute, else from
/// the shape (channels of 1, 3 or 4 last means NHWC).
fn input_layout(g: &Graph, k: usize) -> Layout {
    let n = g.inputs()[k];
    for (c, _) in g.consumers(nnopt_compiler::ir::ValueRef::first(n)) {
        match &g.node(c).op {
            Op::Conv(a) | Op::ConvTranspose { conv: a, .. } => return a.layout,
            Op::Pool { pool, .. } => return pool.layout,
            Op::DepthToSpace { layout, .. } => return *layout,
            _ => {}
        }
    }
    let s = &g.node(n).outputs[0].ty.shape;
    let is_channels = |d: usize| matches!(d, 1 | 3 | 4);
    if s.len() == 4 && is_channels(s[1]) && !is_channels(s[3]) {
        Layout::Nchw
    } else {
        Layout::Nhwc
    }
}

/// Samples from one path: a `.npy` file, or a folder of `.npy` files or images.
fn read_source(path: &Path, spec: &InputSpec<'_>, args: &CalibrationData) -> Result<Vec<Tensor>> {
    if path.is_file() {
        return split_samples(read_npy(path)?, spec.ty);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| Error::new(format!("cannot read calibration folder: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let ext = |p: &Path| {
        p.extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    };
    let npys: Vec<&PathBuf> = files.iter().filter(|p| ext(p) == "npy").collect();
    let images: Vec<&PathBuf> = files
        .iter()
        .filter(|p| matches!(ext(p).as_str(), "png" | "jpg" | "jpeg"))
        .collect();
    let limit = args.calibration_samples.max(1);
    if !npys.is_empty() {
        let mut out = vec![];
        for p in npys {
            if out.len() >= limit {
                break;
            }
            out.extend(split_samples(read_npy(p)?, spec.ty).map_err(|e| e.in_file(p))?);
        }
        return Ok(out);
    }
    if images.is_empty() {
        return Err(Error::new("the folder has no .npy, .png or .jpg files"));
    }
    let batch = spec.ty.shape.first().copied().unwrap_or(1).max(1);
    let mut pixels = vec![];
    for p in images.iter().take(limit * batch) {
        let img = image::open(p)
            .map_err(|e| Error::new(format!("cannot decode image: {e}")).in_file(p))?;
        pixels.push(image_values(&img, spec, args).map_err(|e| e.in_file(p))?);
    }
    pixels
        .chunks_exact(batch)
        .map(|chunk| {
            Tensor::from_f64s(DType::F32, &spec.ty.shape, &chunk.concat())
                .ok_or_else(|| Error::new(format!("images do not fill the input {}", spec.ty)))
        })
        .collect()
}

/// Splits a tensor holding `k` samples stacked along the batch axis into `k` tensors of
/// the input's shape.
fn split_samples(t: Tensor, ty: &TensorType) -> Result<Vec<Tensor>> {
    if t.dtype() != ty.dtype {
        return Err(Error::new(format!(
            "calibration data is {}, the model input is {ty}",
            t.dtype()
        )));
    }
    let bad = t.count_non_finite();
    if bad > 0 {
        return Err(Error::new(format!(
            "calibration data has {bad} NaN or infinite values of {}: activation ranges \
             measured on them would be meaningless",
            t.len()
        )));
    }
    let s = t.shape();
    let per: usize = ty.num_elements();
    let same_tail = s.len() == ty.shape.len() && s[1..] == ty.shape[1..];
    if per == 0 || !same_tail || !t.len().is_multiple_of(per) {
        return Err(Error::new(format!(
            "calibration data of shape {s:?} does not stack samples of the input {ty}"
        )));
    }
    let values = t.to_f64_vec();
    values
        .chunks_exact(per)
        .map(|c| {
            Tensor::from_f64s(ty.dtype, &ty.shape, c)
                .ok_or_else(|| Error::new(format!("cannot build a {ty} sample")))
        })
        .collect()
}

/// One image as normalized values in the input's layout (for batch 1 of the input).
fn image_values(
    img: &DynamicImage,
    spec: &InputSpec<'_>,
    args: &CalibrationData,
) -> Result<Vec<f64>> {
    let s = &spec.ty.shape;
    if spec.ty.dtype != DType::F32 || s.len() != 4 {
        return Err(Error::new(format!(
            "images calibrate 4-D f32 inputs only, the input is {}",
            spec.ty
        )));
    }
    let (h, w, c) = match spec.layout {
        Layout::Nhwc => (s[1], s[2], s[3]),
        Layout::Nchw => (s[2], s[3], s[1]),
    };
    let per_channel = |v: &[f32], what: &str, default: f32| -> Result<Vec<f64>> {
        match v.len() {
            0 => Ok(vec![default as f64; c]),
            1 => Ok(vec![v[0] as f64; c]),
            n if n == c => Ok(v.iter().map(|&x| x as f64).collect()),
            n => Err(Error::new(format!(
                "--{what} has {n} values, the input has {c} channels"
            ))),
        }
    };
    let mean = per_channel(&args.mean, "mean", 0.0)?;
    let std = per_channel(&args.std, "std", 1.0)?;
    if std.contains(&0.0) {
        return Err(Error::new("--std must not be zero"));
    }
    let resized = img.resize_exact(w as u32, h as u32, FilterType::Triangle);
    let raw: Vec<u8> = match c {
        1 => resized.to_luma8().into_raw(),
        3 => resized.to_rgb8().into_raw(),
        4 => resized.to_rgba8().into_raw(),
        _ => {
            return Err(Error::new(format!(
                "images have 1, 3 or 4 channels, the input has {c}"
            )))
        }
    };
    let (lo, hi) = (args.pixel_range.0 as f64, args.pixel_range.1 as f64);
    let value = |y: usize, x: usize, ch: usize| {
        let src = if args.bgr && c >= 3 && ch < 3 {
            2 - ch
        } else {
            ch
        };
        let p = raw[(y * w + x) * c + src] as f64;
        (lo + (hi - lo) * p / 255.0 - mean[ch]) / std[ch]
    };
    let mut out = Vec::with_capacity(h * w * c);
    match spec.layout {
        Layout::Nhwc => {
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        out.push(value(y, x, ch));
                    }
                }
            }
        }
        Layout::Nchw => {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        out.push(value(y, x, ch));
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::write_npy;
    use nnopt_compiler::ir::text::parse_graph;

    const NHWC: &str = r#"graph "g"(%x) {
  %x: f32[1,2,2,3] = input
  %y: f32[1,2,2,3] = activation {"act":"relu"}(%x)
  return %y
}
"#;

    fn args(paths: Vec<PathBuf>) -> CalibrationData {
        CalibrationData {
            calibration: paths,
            ..Default::default()
        }
    }

    #[test]
    fn stacked_npy_splits_into_samples_and_respects_the_limit() {
        let g = parse_graph(NHWC).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let v: Vec<f64> = (0..36).map(|i| i as f64).collect();
        write_npy(
            &p,
            &Tensor::from_f64s(DType::F32, &[3, 2, 2, 3], &v).unwrap(),
        )
        .unwrap();
        let c = load_calibration(&g, &args(vec![p.clone()])).unwrap();
        assert_eq!(c.samples.len(), 3);
        assert!(!c.synthetic);
        assert_eq!(c.samples[2][0].to_f64_vec()[0], 24.0);
        let mut limited = args(vec![p.clone()]);
        limited.calibration_samples = 2;
        assert_eq!(load_calibration(&g, &limited).unwrap().samples.len(), 2);
        let wrong = dir.path().join("bad.npy");
        write_npy(&wrong, &Tensor::zeros(DType::F32, &[2, 3, 3])).unwrap();
        let err = load_calibration(&g, &args(vec![wrong])).unwrap_err();
        assert!(err.to_string().contains("does not stack samples"), "{err}");
        let err = load_calibration(&g, &args(vec![p.clone(), p])).unwrap_err();
        assert!(err.to_string().contains("one per input"), "{err}");
    }

    #[test]
    fn images_are_resized_and_normalized() {
        let g = parse_graph(NHWC).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let img = image::RgbImage::from_fn(4, 4, |_, _| image::Rgb([255, 0, 51]));
        img.save(dir.path().join("a.png")).unwrap();
        let mut a = args(vec![dir.path().to_path_buf()]);
        a.pixel_range = (-1.0, 1.0);
        a.bgr = true;
        let c = load_calibration(&g, &a).unwrap();
        assert_eq!(c.samples.len(), 1);
        // BGR of (255, 0, 51) mapped onto [-1, 1]: 51 -> -0.6, 0 -> -1, 255 -> 1.
        let v = c.samples[0][0].to_f64_vec();
        assert!(
            (v[0] + 0.6).abs() < 1e-6 && v[1] == -1.0 && v[2] == 1.0,
            "{v:?}"
        );
        let empty = tempfile::tempdir().unwrap();
        let err = load_calibration(&g, &args(vec![empty.path().to_path_buf()])).unwrap_err();
        assert!(err.to_string().contains("no .npy, .png or .jpg"), "{err}");
    }

    #[test]
    fn no_data_means_synthetic_samples_with_a_warning() {
        let mut g = parse_graph(NHWC).unwrap();
        let report = quantize(&mut g, &CalibrationArgs::default()).unwrap();
        assert!(report.synthetic && report.samples == SYNTHETIC_SAMPLES);
        assert!(report
            .to_string()
            .contains("warning: no calibration data given"));
    }
}
