//! Calibration flags shared by `compile`, `export` and `quantize`, converted to the
//! library's [`CalibrationData`] and [`CalibrationArgs`].

use clap::Args;
use nnopt::calibration::{CalibrationArgs, CalibrationData};
use nnopt::passes::quantize_int8::CalibrationMethod;
use std::path::PathBuf;

/// Calibration data and how activation ranges are taken from it.
#[derive(Args)]
pub struct CalibrationDataFlags {
    /// Calibration data for one model input (repeat once per input, in order): a .npy
    /// file (samples stacked along the batch axis), a folder of .npy files, or a folder
    /// of images (png, jpg). Without it, random inputs are used, with a warning.
    #[arg(long, value_name = "PATH")]
    calibration: Vec<PathBuf>,
    /// Use at most N calibration samples (files are taken in name order).
    #[arg(long, value_name = "N", default_value_t = 200)]
    calibration_samples: usize,
    /// How activation ranges are chosen: minmax, percentile or mse.
    #[arg(long, value_name = "METHOD", default_value = "minmax", value_parser = parse_method)]
    calibration_method: CalibrationMethod,
    /// The percentile kept by --calibration-method percentile.
    #[arg(long, value_name = "P", default_value_t = 99.99)]
    percentile: f32,
    /// Images: map pixel values 0..255 linearly onto LO..HI (e.g. -1,1). Also the range
    /// of the random inputs when no calibration data is given.
    #[arg(long, value_name = "LO,HI", default_value = "0,1", value_parser = parse_range,
          allow_hyphen_values = true)]
    pixel_range: (f32, f32),
    /// Images: per-channel mean subtracted after --pixel-range (one value, or one per
    /// channel).
    #[arg(
        long,
        value_name = "M[,M,M]",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    mean: Vec<f32>,
    /// Images: per-channel standard deviation divided by after --mean.
    #[arg(long, value_name = "S[,S,S]", value_delimiter = ',')]
    std: Vec<f32>,
    /// Images: feed channels in BGR order instead of RGB.
    #[arg(long)]
    bgr: bool,
}

impl From<CalibrationDataFlags> for CalibrationData {
    fn from(f: CalibrationDataFlags) -> Self {
        CalibrationData {
            calibration: f.calibration,
            calibration_samples: f.calibration_samples,
            calibration_method: f.calibration_method,
            percentile: f.percentile,
            pixel_range: f.pixel_range,
            mean: f.mean,
            std: f.std,
            bgr: f.bgr,
        }
    }
}

/// Int8 quantization flags: calibration data plus the weight granularity.
#[derive(Args)]
pub struct CalibrationFlags {
    #[command(flatten)]
    data: CalibrationDataFlags,
    /// Quantize weights with one scale per tensor instead of per output channel.
    #[arg(long)]
    per_tensor_weights: bool,
}

impl From<CalibrationFlags> for CalibrationArgs {
    fn from(f: CalibrationFlags) -> Self {
        CalibrationArgs {
            data: f.data.into(),
            per_tensor_weights: f.per_tensor_weights,
        }
    }
}

fn parse_method(s: &str) -> Result<CalibrationMethod, String> {
    match s {
        "minmax" => Ok(CalibrationMethod::Minmax),
        "percentile" => Ok(CalibrationMethod::Percentile),
        "mse" => Ok(CalibrationMethod::Mse),
        _ => Err(format!("expected minmax, percentile or mse, got '{s}'")),
    }
}

fn parse_range(s: &str) -> Result<(f32, f32), String> {
    let parts: Vec<&str> = s.split(',').collect();
    let [lo, hi] = parts.as_slice() else {
        return Err(format!("expected LO,HI, got '{s}'"));
    };
    let num = |x: &str| {
        x.trim()
            .parse::<f32>()
            .map_err(|e| format!("'{x}' is not a number: {e}"))
    };
    let (lo, hi) = (num(lo)?, num(hi)?);
    if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
        return Err(format!("expected LO < HI, got {lo},{hi}"));
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_methods() {
        assert_eq!(parse_range("-1, 1"), Ok((-1.0, 1.0)));
        assert!(parse_range("1,0").is_err() && parse_method("max").is_err());
    }
}
