//! Area, power and energy of a fixed-weight front-end beside a programmable accelerator,
//! by DeepFreeze's analytic model (`model_ppa.py`, FixyNN's 16 nm figures): a hard-wired
//! multiplier costs area and power per bit of `activation bits × weight bits` for each
//! non-zero weight; buffered activations cost per bit; layers run in parallel, one padded
//! input pixel a cycle; the programmable accelerator spends a fixed energy per operation.
//!
//! The all-programmable system is given the hybrid's total area: scaling an accelerator
//! scales its throughput and power together, so its energy per inference is its energy
//! per operation times every operation of the network.

use super::layers::FixedFrontend;
use serde::Serialize;

/// The model's constants (defaults: DeepFreeze's).
#[derive(Clone, Debug, Serialize)]
pub struct PpaConstants {
    /// mm² per multiplier bit (per non-zero weight × activation bits × weight bits).
    pub multiplier_area_mm2_per_bit: f64,
    /// W per multiplier bit at the clock below.
    pub multiplier_power_w_per_bit: f64,
    /// mm² per buffered activation bit (line buffers and window registers).
    pub buffer_area_mm2_per_bit: f64,
    /// W per buffered activation bit.
    pub buffer_power_w_per_bit: f64,
    pub clock_hz: f64,
    pub activation_bits: u32,
    pub weight_bits: u32,
    /// The programmable accelerator: area, power and throughput (operations: 2 per MAC).
    pub programmable_area_mm2: f64,
    pub programmable_power_w: f64,
    pub programmable_tops: f64,
}

impl Default for PpaConstants {
    fn default() -> Self {
        PpaConstants {
            multiplier_area_mm2_per_bit: 2.05e-7,
            multiplier_power_w_per_bit: 5.79e-8,
            buffer_area_mm2_per_bit: 1.62e-6,
            buffer_power_w_per_bit: 4.0e-7,
            clock_hz: 810e6,
            activation_bits: 8,
            weight_bits: 8,
            programmable_area_mm2: 3.3,
            programmable_power_w: 0.891,
            programmable_tops: 4.0,
        }
    }
}

impl PpaConstants {
    /// Joules per operation on the programmable accelerator.
    pub fn programmable_joules_per_op(&self) -> f64 {
        self.programmable_power_w / (self.programmable_tops * 1e12)
    }
}

/// One hard-wired layer.
#[derive(Clone, Debug, Serialize)]
pub struct LayerPpa {
    pub name: String,
    pub weights: usize,
    pub nonzero_weights: usize,
    pub macs: u64,
    pub multiplier_bits: u64,
    pub buffer_bits: u64,
    pub area_mm2: f64,
    pub power_w: f64,
    /// Cycles per image: one per padded input pixel.
    pub cycles: u64,
}

/// The whole front-end.
#[derive(Clone, Debug, Serialize)]
pub struct FrontendPpa {
    pub layers: Vec<LayerPpa>,
    pub area_mm2: f64,
    pub power_w: f64,
    /// Cycles per image in steady state (the slowest layer).
    pub cycles: u64,
    pub seconds_per_inference: f64,
    pub joules_per_inference: f64,
    pub macs: u64,
}

/// Prices a front-end.
pub fn frontend_ppa(fe: &FixedFrontend, c: &PpaConstants) -> FrontendPpa {
    let bits = (c.activation_bits * c.weight_bits) as u64;
    let layers: Vec<LayerPpa> = fe
        .layers
        .iter()
        .map(|l| {
            let [hp, wp] = l.padded();
            let window_pixels = (l.kernel[0] - 1) * wp + l.kernel[1];
            let buffer_bits = (window_pixels * l.input[2]) as u64 * c.activation_bits as u64;
            let multiplier_bits = l.nonzero_weights() as u64 * bits;
            LayerPpa {
                name: l.name.clone(),
                weights: l.weights.len(),
                nonzero_weights: l.nonzero_weights(),
                macs: l.macs() as u64,
                multiplier_bits,
                buffer_bits,
                area_mm2: multiplier_bits as f64 * c.multiplier_area_mm2_per_bit
                    + buffer_bits as f64 * c.buffer_area_mm2_per_bit,
                power_w: multiplier_bits as f64 * c.multiplier_power_w_per_bit
                    + buffer_bits as f64 * c.buffer_power_w_per_bit,
                cycles: (hp * wp) as u64,
            }
        })
        .collect();
    let area_mm2 = layers.iter().map(|l| l.area_mm2).sum();
    let power_w: f64 = layers.iter().map(|l| l.power_w).sum();
    let cycles = layers.iter().map(|l| l.cycles).max().unwrap_or(0);
    let seconds = cycles as f64 / c.clock_hz;
    FrontendPpa {
        macs: layers.iter().map(|l| l.macs).sum(),
        layers,
        area_mm2,
        power_w,
        cycles,
        seconds_per_inference: seconds,
        joules_per_inference: power_w * seconds,
    }
}

/// Fixed + programmable against all-programmable at the same total area.
#[derive(Clone, Debug, Serialize)]
pub struct SystemPpa {
    /// Front-end area (mm²) and the hybrid's total with the programmable accelerator.
    pub fixed_area_mm2: f64,
    pub hybrid_area_mm2: f64,
    pub frontend_macs: u64,
    pub backend_macs: u64,
    pub fixed_joules: f64,
    pub backend_joules: f64,
    pub hybrid_joules: f64,
    pub all_programmable_joules: f64,
    /// All-programmable energy per inference ÷ fixed + programmable.
    pub energy_efficiency_ratio: f64,
    pub hybrid_tops_per_w: f64,
    pub all_programmable_tops_per_w: f64,
    /// Seconds per inference in steady state: the front-end and the programmable
    /// back-end run as a pipeline; the all-programmable accelerator is scaled to the
    /// hybrid's area.
    pub hybrid_seconds: f64,
    pub all_programmable_seconds: f64,
}

/// Compares a front-end (priced by `fixed_area_mm2` and `fixed_joules`, from this model
/// or from synthesis) followed by `backend_macs` on the programmable accelerator with the
/// whole network on a programmable accelerator of the same total area.
pub fn compare(
    fixed_area_mm2: f64,
    fixed_joules: f64,
    fixed_seconds: f64,
    frontend_macs: u64,
    backend_macs: u64,
    c: &PpaConstants,
) -> SystemPpa {
    let per_op = c.programmable_joules_per_op();
    let ops = |macs: u64| 2.0 * macs as f64;
    let backend_joules = ops(backend_macs) * per_op;
    let hybrid_joules = fixed_joules + backend_joules;
    let total_ops = ops(frontend_macs + backend_macs);
    let all_joules = total_ops * per_op;
    let hybrid_area = fixed_area_mm2 + c.programmable_area_mm2;
    let backend_seconds = ops(backend_macs) / (c.programmable_tops * 1e12);
    let scaled_tops = c.programmable_tops * hybrid_area / c.programmable_area_mm2;
    let tops_per_w = |joules: f64| {
        if joules > 0.0 {
            total_ops / joules / 1e12
        } else {
            0.0
        }
    };
    SystemPpa {
        fixed_area_mm2,
        hybrid_area_mm2: hybrid_area,
        frontend_macs,
        backend_macs,
        fixed_joules,
        backend_joules,
        hybrid_joules,
        all_programmable_joules: all_joules,
        energy_efficiency_ratio: if hybrid_joules > 0.0 {
            all_joules / hybrid_joules
        } else {
            0.0
        },
        hybrid_tops_per_w: tops_per_w(hybrid_joules),
        all_programmable_tops_per_w: tops_per_w(all_joules),
        hybrid_seconds: fixed_seconds.max(backend_seconds),
        all_programmable_seconds: total_ops / (scaled_tops * 1e12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_wiring_saves_the_front_ends_programmable_energy() {
        let c = PpaConstants::default();
        // 0.891 W / 4 TOPS = 0.22275 pJ per operation, 2 operations a MAC.
        assert!((c.programmable_joules_per_op() - 0.22275e-12).abs() < 1e-18);
        // Nothing fixed: both systems are the same.
        let same = compare(0.0, 0.0, 0.0, 0, 1000, &c);
        assert!((same.energy_efficiency_ratio - 1.0).abs() < 1e-12);
        // Half the MACs fixed at no energy: twice as efficient; the fixed energy counts.
        let half = compare(0.1, 0.0, 1e-6, 1000, 1000, &c);
        assert!((half.energy_efficiency_ratio - 2.0).abs() < 1e-12);
        let costly = compare(0.1, half.backend_joules, 1e-6, 1000, 1000, &c);
        assert!((costly.energy_efficiency_ratio - 1.0).abs() < 1e-12);
        assert!((half.hybrid_area_mm2 - 3.4).abs() < 1e-12);
    }
}
