//! Quantization of constant operands: symmetric int8 weights (per channel or per
//! tensor), int32 biases, and asymmetric int8 constants used as activations.

use super::observer::int8_params;
use ndarray::{ArrayD, Axis, IxDyn};
use nnopt_compiler::ir::{QuantParams, Tensor};
use nnopt_compiler::{Error, Result};
use serde::{Deserialize, Serialize};

/// A quantized constant: its data and parameters.
pub struct QuantizedConst {
    pub value: Tensor,
    pub params: QuantParams,
}

/// TFLite's rounding: half away from zero.
fn round(x: f64) -> f64 {
    x.round()
}

fn f32_data<'a>(t: &'a Tensor, what: &str) -> Result<&'a ArrayD<f32>> {
    t.as_f32()
        .ok_or_else(|| Error::new(format!("{what} must be f32, got {}", t.dtype())))
}

/// The grid a layer's int8 weights take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightGrid {
    /// Bits (2 to 8): values in `±(2^(bits - 1) - 1)`.
    pub bits: u32,
    /// Every channel's scale is the largest channel scale times a power of two (the
    /// smallest that still covers the channel), so all channels share one requantization
    /// multiplier and differ in shift only: their records code to almost nothing, at the
    /// price of up to one bit of resolution in a channel.
    #[serde(default)]
    pub power_of_two_scales: bool,
}

impl Default for WeightGrid {
    fn default() -> Self {
        WeightGrid {
            bits: 8,
            power_of_two_scales: false,
        }
    }
}

/// Symmetric int8 weights on `grid`: zero point 0, `scale = max|w| / qmax` with
/// `qmax = 2^(bits - 1) - 1` over each index of `axis` (per channel) or over the whole
/// tensor (`axis = None`); values in [-qmax, qmax] (8 bits: [-127, 127]). An all-zero
/// channel gets scale 1, like TFLite (with power-of-two scales: the largest scale).
pub fn weights(w: &Tensor, axis: Option<usize>, grid: WeightGrid) -> Result<QuantizedConst> {
    let a = f32_data(w, "weights")?;
    let bits = grid.bits;
    if !(2..=8).contains(&bits) {
        return Err(Error::new(format!(
            "weight bits must be 2 to 8, got {bits}"
        )));
    }
    let qmax = f64::from((1u32 << (bits - 1)) - 1);
    let scale_of = |m: f32| if m > 0.0 { m as f64 / qmax } else { 1.0 };
    let max_abs = |it: &mut dyn Iterator<Item = &f32>| it.fold(0f32, |m, v| m.max(v.abs()));
    let extents: Vec<f32> = match axis {
        Some(ax) => {
            if ax >= a.ndim() {
                return Err(Error::new(format!(
                    "weight axis {ax} out of range for {:?}",
                    a.shape()
                )));
            }
            a.axis_iter(Axis(ax))
                .map(|lane| max_abs(&mut lane.iter()))
                .collect()
        }
        None => vec![max_abs(&mut a.iter())],
    };
    let scales: Vec<f64> = match grid.power_of_two_scales {
        true => power_of_two_multiples(&extents, qmax),
        false => extents.iter().map(|&m| scale_of(m)).collect(),
    };
    let channel = |idx: &IxDyn| axis.map_or(0, |ax| idx[ax]);
    let q = ArrayD::from_shape_fn(a.raw_dim(), |idx| {
        let s = scales[channel(&idx)];
        round(a[&idx] as f64 / s).clamp(-qmax, qmax) as i8
    });
    Ok(QuantizedConst {
        value: Tensor::I8(q),
        params: QuantParams {
            scale: scales.iter().map(|&s| s as f32).collect(),
            zero_point: vec![0; scales.len()],
            axis: if scales.len() > 1 { axis } else { None },
        },
    })
}

/// Channel scales for channel extents `max_abs`: the largest scale `s = max / qmax`
/// (as f32), and each channel `s · 2^-k` with the largest `k` that keeps its extent on
/// the grid (all-zero channels take `s`).
fn power_of_two_multiples(max_abs: &[f32], qmax: f64) -> Vec<f64> {
    let top = max_abs.iter().fold(0f32, |m, &v| m.max(v));
    if top <= 0.0 {
        return vec![1.0; max_abs.len()];
    }
    let s = f64::from((f64::from(top) / qmax) as f32);
    max_abs
        .iter()
        .map(|&m| {
            let mut scale = s;
            while m > 0.0
                && f64::from(m) <= scale / 2.0 * qmax
                && scale > f64::from(f32::MIN_POSITIVE)
            {
                scale /= 2.0;
            }
            scale
        })
        .collect()
}

/// Int32 bias for an op with input scale `input_scale` and weight scales `w_scales`
/// (one per output channel, or one for all): `q = round(b / (input_scale * w_scale))`.
/// `channel_axis` is the axis of the bias tensor that indexes output channels.
pub fn bias(
    b: &Tensor,
    input_scale: f32,
    w_scales: &[f32],
    channel_axis: usize,
) -> Result<QuantizedConst> {
    let a = f32_data(b, "bias")?;
    let channels = a.len();
    if w_scales.len() != 1 && w_scales.len() != channels {
        return Err(Error::new(format!(
            "bias has {channels} values for {} weight scales",
            w_scales.len()
        )));
    }
    let scales: Vec<f32> = (0..channels)
        .map(|c| {
            let ws = if w_scales.len() == 1 {
                w_scales[0]
            } else {
                w_scales[c]
            };
            (input_scale as f64 * ws as f64) as f32
        })
        .collect();
    let q: Vec<i32> = a
        .iter()
        .zip(&scales)
        .map(|(&v, &s)| round(v as f64 / s as f64).clamp(i32::MIN as f64, i32::MAX as f64) as i32)
        .collect();
    let value = ArrayD::from_shape_vec(a.raw_dim(), q)
        .map_err(|e| Error::new(format!("bias shape: {e}")))?;
    let params = if channels == 1 || w_scales.len() == 1 {
        QuantParams::per_tensor(scales[0], 0)
    } else {
        QuantParams {
            scale: scales,
            zero_point: vec![0; channels],
            axis: Some(channel_axis),
        }
    };
    Ok(QuantizedConst {
        value: Tensor::I32(value),
        params,
    })
}

/// An f32 constant used where an op expects a quantized activation (an operand of add,
/// mul, concat, a PReLU slope): asymmetric per-tensor int8 from its own range.
pub fn activation_const(t: &Tensor) -> Result<QuantizedConst> {
    let a = f32_data(t, "constant operand")?;
    let (lo, hi) = a
        .iter()
        .fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
    let (scale, zp) = int8_params(lo as f64, hi as f64);
    Ok(QuantizedConst {
        value: Tensor::I8(quantize_values(a, scale as f32, zp)),
        params: QuantParams::per_tensor(scale as f32, zp),
    })
}

/// Affine int8 quantization of f32 values with TFLite's rounding, in float32 as the
/// QUANTIZE kernel does.
pub fn quantize_values(a: &ArrayD<f32>, scale: f32, zp: i64) -> ArrayD<i8> {
    a.mapv(|v| ((v / scale).round() as i64 + zp).clamp(-128, 127) as i8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn per_channel_weights_use_each_channels_extent() {
        let w = Tensor::F32(array![[1.0f32, -0.5], [0.0, 0.0], [0.25, -2.54]].into_dyn());
        let q = weights(&w, Some(0), WeightGrid::default()).unwrap();
        assert_eq!(q.params.axis, Some(0));
        assert_eq!(q.params.zero_point, vec![0, 0, 0]);
        assert_eq!(q.params.scale, vec![1.0 / 127.0, 1.0, 0.02]);
        let Tensor::I8(v) = q.value else { panic!() };
        assert_eq!(v, array![[127i8, -64], [0, 0], [13, -127]].into_dyn());
    }

    #[test]
    fn per_tensor_weights_share_one_scale() {
        let w = Tensor::F32(array![[1.27f32, -0.5], [0.0, 0.01]].into_dyn());
        let q = weights(&w, None, WeightGrid::default()).unwrap();
        assert_eq!(q.params.axis, None);
        assert_eq!(q.params.scale, vec![0.01]);
        let Tensor::I8(v) = q.value else { panic!() };
        assert_eq!(v, array![[127i8, -50], [0, 1]].into_dyn());
    }

    fn grid(bits: u32) -> WeightGrid {
        WeightGrid {
            bits,
            power_of_two_scales: false,
        }
    }

    #[test]
    fn power_of_two_scales_share_a_mantissa() {
        let w =
            Tensor::F32(array![[0.7f32, -0.36], [0.2, 0.0], [0.0, 0.0], [0.0, 0.36]].into_dyn());
        let g = WeightGrid {
            bits: 4,
            power_of_two_scales: true,
        };
        let q = weights(&w, Some(0), g).unwrap();
        let s = 0.7f32 / 7.0;
        // 0.2 is within 7 steps of s / 2 (0.35), not of s / 4 (0.175); 0.36 needs s.
        assert_eq!(q.params.scale, vec![s, s / 2.0, s, s]);
        let Tensor::I8(v) = q.value else { panic!() };
        assert_eq!(v, array![[7i8, -4], [4, 0], [0, 0], [0, 4]].into_dyn());
    }

    #[test]
    fn low_bit_weights_lie_on_their_grid() {
        let w = Tensor::F32(array![[0.7f32, -0.35, 0.1, 0.0], [0.0, 0.0, 0.0, 0.0]].into_dyn());
        let q = weights(&w, Some(0), grid(4)).unwrap();
        assert_eq!(q.params.scale, vec![0.1, 1.0]);
        let Tensor::I8(v) = q.value else { panic!() };
        assert_eq!(v, array![[7i8, -4, 1, 0], [0, 0, 0, 0]].into_dyn());
        let q = weights(&w, None, grid(2)).unwrap();
        let Tensor::I8(v) = q.value else { panic!() };
        assert_eq!(v, array![[1i8, -1, 0, 0], [0, 0, 0, 0]].into_dyn());
        assert!(weights(&w, None, grid(1)).is_err());
        assert!(weights(&w, None, grid(9)).is_err());
    }

    #[test]
    fn bias_scale_is_input_scale_times_weight_scale() {
        let b = Tensor::F32(array![0.5f32, -0.25].into_dyn());
        let q = bias(&b, 0.5, &[0.01, 0.1], 0).unwrap();
        assert_eq!(q.params.scale, vec![0.005, 0.05]);
        let Tensor::I32(v) = q.value else { panic!() };
        assert_eq!(v, array![100, -5].into_dyn());
    }

    #[test]
    fn constant_operands_get_their_own_range() {
        let t = Tensor::F32(array![0.0f32, 1.0, 0.25].into_dyn());
        let q = activation_const(&t).unwrap();
        assert_eq!(q.params.zero_point, vec![-128]);
        let Tensor::I8(v) = q.value else { panic!() };
        assert_eq!(v, array![-128i8, 127, -64].into_dyn());
    }
}
