//! The weight grids the search chooses from: symmetric, per output channel, `bits` bits
//! (values `-qmax..=qmax` with `qmax = 2^(bits - 1) - 1`), as `quantize-int8` lays them
//! inside int8 when given the layer's bits.

/// The bit-widths a layer may take.
pub const BITS: [u32; 6] = [2, 3, 4, 5, 6, 8];

/// The largest grid value of `bits` bits.
pub fn qmax(bits: u32) -> f32 {
    ((1u32 << (bits - 1)) - 1) as f32
}

/// How a weight tensor's values map to output channels: value `i` belongs to channel
/// `(i / inner) % channels`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channels {
    pub channels: usize,
    pub inner: usize,
}

impl Channels {
    /// The layout of a tensor of `shape` whose output channels run along `axis`.
    pub fn of(shape: &[usize], axis: usize) -> Self {
        Channels {
            channels: shape.get(axis).copied().unwrap_or(1).max(1),
            inner: shape.iter().skip(axis + 1).product::<usize>().max(1),
        }
    }

    /// The channel of value `i`.
    pub fn channel(&self, i: usize) -> usize {
        (i / self.inner) % self.channels
    }

    /// The largest magnitude of each channel.
    pub fn max_abs(&self, w: &[f32]) -> Vec<f32> {
        let mut m = vec![0f32; self.channels];
        for (i, &v) in w.iter().enumerate() {
            let c = self.channel(i);
            m[c] = m[c].max(v.abs());
        }
        m
    }
}

/// Each channel's scale on a grid of `bits`: `max|w_c| / qmax` (1 for an all-zero
/// channel); with `power_of_two`, the largest of those times the smallest power of two
/// that still covers the channel (as `quantize-int8` does, in f64 from an f32 scale).
pub fn scales(w: &[f32], layout: Channels, bits: u32, power_of_two: bool) -> Vec<f64> {
    let q = f64::from(qmax(bits));
    let extents = layout.max_abs(w);
    if !power_of_two {
        return extents
            .iter()
            .map(|&m| if m > 0.0 { f64::from(m) / q } else { 1.0 })
            .collect();
    }
    let top = extents.iter().fold(0f32, |m, &v| m.max(v));
    if top <= 0.0 {
        return vec![1.0; extents.len()];
    }
    let s = f64::from((f64::from(top) / q) as f32);
    extents
        .iter()
        .map(|&m| {
            let mut scale = s;
            while m > 0.0 && f64::from(m) <= scale / 2.0 * q && scale > f64::from(f32::MIN_POSITIVE)
            {
                scale /= 2.0;
            }
            scale
        })
        .collect()
}

/// `w` rounded onto each channel's grid (rounding half away from zero, as the quantizer
/// does): fake quantization, for training.
pub fn fake_quantize(w: &[f32], layout: Channels, bits: u32, power_of_two: bool) -> Vec<f32> {
    let q = qmax(bits);
    let scales = scales(w, layout, bits, power_of_two);
    w.iter()
        .enumerate()
        .map(|(i, &v)| {
            let s = scales[layout.channel(i)] as f32;
            (v / s).round().clamp(-q, q) * s
        })
        .collect()
}

/// The int8 codes `quantize-int8` gives `w` on each channel's grid (the same f64
/// arithmetic).
pub fn codes(w: &[f32], layout: Channels, bits: u32, power_of_two: bool) -> Vec<i8> {
    let q = f64::from(qmax(bits));
    let scales = scales(w, layout, bits, power_of_two);
    w.iter()
        .enumerate()
        .map(|(i, &v)| {
            (f64::from(v) / scales[layout.channel(i)])
                .round()
                .clamp(-q, q) as i8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_on_each_channels_grid() {
        // Two channels along axis 0 of [2, 3].
        let layout = Channels::of(&[2, 3], 0);
        assert_eq!(
            layout,
            Channels {
                channels: 2,
                inner: 3
            }
        );
        let w = [0.7, -0.35, 0.1, 0.0, 0.0, 0.0];
        let q = fake_quantize(&w, layout, 4, false);
        assert!((q[0] - 0.7).abs() < 1e-6 && (q[1] + 0.4).abs() < 1e-6);
        assert!((q[2] - 0.1).abs() < 1e-6);
        assert_eq!(&q[3..], &[0.0; 3]);
        // Channels along the last axis: [3, 2] with axis 1.
        let layout = Channels::of(&[3, 2], 1);
        assert_eq!(
            (layout.channel(0), layout.channel(1), layout.channel(2)),
            (0, 1, 0)
        );
        let q = fake_quantize(&[1.0, 0.3, -0.4, 0.2, 0.1, -0.1], layout, 2, false);
        assert_eq!(q, vec![1.0, 0.3, -0.0, 0.3, 0.0, -0.0]);
        assert_eq!(BITS.map(qmax), [1.0, 3.0, 7.0, 15.0, 31.0, 127.0]);
        // Power-of-two scales: channel 1 (extent 0.3) takes half of channel 0's 1.0 / 3.
        let s = scales(&[1.0, 0.3, -0.4, 0.2, 0.1, -0.1], layout, 3, true);
        let top = f64::from((1.0f64 / 3.0) as f32);
        assert_eq!(s, vec![top, top / 2.0]);
    }
}
