//! The performance model: per command cycles, memory traffic and energy on a [`Target`].
//!
//! A program is first reduced to what each command does, independent of the target
//! ([`CommandWork`]: its kind of work and amount, the weight bytes it streams in, the
//! activation bytes it moves); [`price`] then costs that on a target. Each command is a
//! roofline: its compute cycles (MACs over the target's int8 or FP8 MAC rate, or values
//! over its elementwise rate, each scaled by the target's sustained utilization of that
//! kind of work; copies count their output elements) overlap with its memory cycles (weights streamed from off-chip memory,
//! activations read and written in SRAM, or off-chip when the arena does not fit in SRAM);
//! the larger one, plus the target's fixed per-command overhead, is the command's cycle
//! count and names it compute- or memory-bound. Pooling and reductions count the values
//! they read as MACs. Energy sums per-MAC and per-byte constants. Host-CPU commands (CPU
//! segments and host kernels) are costed at one MAC per cycle on the host CPU and
//! reported apart from NPU time.

use super::program::{Command, Program};
use super::target::Target;
use nnopt_compiler::analysis::total_macs;
use nnopt_compiler::ir::text::parse_graph;
use nnopt_compiler::Result;
use serde::{Deserialize, Serialize};

/// What limits a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Compute,
    Memory,
    /// Runs on the host CPU.
    Cpu,
}

/// The multiply-accumulates of a convolution or fully connected layer by their shape:
/// `outputs` positions (pixels, or rows) times `out_channels`, each reducing
/// `in_channels` (per group) times `taps` (kernel positions) products; `zero_weights` of
/// the layer's `out_channels * in_channels * taps` weights are zero (pruned).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacShape {
    pub outputs: u64,
    pub out_channels: u64,
    pub in_channels: u64,
    pub taps: u64,
    #[serde(default)]
    pub zero_weights: u64,
}

impl MacShape {
    /// The shape of `macs` products over `out_channels` outputs per position, each reducing
    /// `reduction` weights of which `taps` are kernel positions.
    pub fn new(macs: u64, out_channels: u64, reduction: u64, taps: u64) -> MacShape {
        let (out_channels, reduction, taps) = (out_channels.max(1), reduction.max(1), taps.max(1));
        MacShape {
            outputs: macs / (out_channels * reduction),
            out_channels,
            in_channels: (reduction / taps).max(1),
            taps,
            zero_weights: 0,
        }
    }

    /// The layer's weights (decoded int8 bytes).
    pub fn weights(&self) -> u64 {
        self.out_channels * self.in_channels * self.taps
    }

    /// The share of products whose weight is not zero.
    pub fn density(&self) -> f64 {
        let w = self.weights().max(1);
        (w - self.zero_weights.min(w)) as f64 / w as f64
    }

    /// The products the MAC array performs when it works on blocks of `out` output and
    /// `input` input channels: the channel counts rounded up to those blocks.
    pub fn padded(&self, out: u64, input: u64) -> u64 {
        self.outputs
            * self.out_channels.next_multiple_of(out.max(1))
            * self.in_channels.next_multiple_of(input.max(1))
            * self.taps
    }
}

/// The compute side of a command: its kind of work and how much of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// int8 multiply-accumulates of a convolution other than a depthwise one.
    Conv(MacShape),
    /// int8 multiply-accumulates of a depthwise (or other grouped) convolution.
    Depthwise(MacShape),
    /// int8 multiply-accumulates of a fully connected layer.
    FullyConnected(MacShape),
    /// Multiply-accumulates at the FP8 MAC rate (FP8 convolutions, fully connected).
    Fp8Macs(u64),
    /// Values read by a pooling window, at the elementwise rate.
    Pool(u64),
    /// Values read by a reduction, at the elementwise rate.
    Reduce(u64),
    /// Output elements of a binary elementwise op, at the elementwise rate.
    Elementwise(u64),
    /// Output elements of a table lookup, activation or requantization.
    Unary(u64),
    /// Output elements of a parametric ReLU.
    #[serde(rename = "prelu")]
    PRelu(u64),
    /// Output elements of a resize.
    Resize(u64),
    /// Output elements of a softmax.
    Softmax(u64),
    /// Output elements of a data movement (concatenation, padding).
    Copy(u64),
    /// Cycles of a CPU-fallback segment on the host.
    Cpu(u64),
}

/// What one command does, independent of the target: the performance model's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandWork {
    pub name: String,
    pub kind: String,
    pub work: Work,
    /// Multiply-accumulates (pooling and reductions: values read).
    pub macs: u64,
    /// Encoded weight bytes streamed in (weights, bias, requantization, tables).
    pub weight_bytes: u64,
    /// Activation bytes read and written.
    pub activation_bytes: u64,
}

/// The cost of one command.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandCost {
    pub name: String,
    pub kind: String,
    pub macs: u64,
    pub cycles: u64,
    pub bound: Bound,
    /// Encoded weight bytes streamed in (weights, bias, requantization).
    pub weight_bytes: u64,
    /// Activation bytes read and written.
    pub activation_bytes: u64,
    /// Bytes moved over the off-chip interface (weights, and activations when the arena
    /// spills out of SRAM).
    pub dma_bytes: u64,
    pub energy_uj: f64,
}

/// The cost of a whole program.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub target: String,
    pub commands: Vec<CommandCost>,
    pub npu_cycles: u64,
    pub cpu_cycles: u64,
    pub macs: u64,
    pub dma_bytes: u64,
    pub arena_bytes: u64,
    /// Whether the arena fits in the target's SRAM.
    pub arena_fits_sram: bool,
    pub energy_uj: f64,
    /// NPU time at the target's clock (CPU segments excluded).
    pub npu_time_ms: f64,
}

/// A command's cycles on `target` and what bounds them: the target's per-command overhead
/// plus the largest of its compute cycles, its memory cycles (`offchip_bytes` over the
/// off-chip bandwidth plus `sram_bytes` over the SRAM bandwidth) and, on a target with a
/// weight-decoder rate, its decoded weight bytes over that rate (counted as memory).
/// Products with a zero weight are skipped only on a target that `skips_zero_weights`.
pub fn roofline(target: &Target, work: Work, offchip_bytes: u64, sram_bytes: u64) -> (u64, Bound) {
    let u = &target.utilization;
    let at = |n: f64, rate: u64, utilization: f64| (n / (rate as f64 * utilization)).ceil() as u64;
    let (int8, streaming) = (target.int8_macs_per_cycle, target.elementwise_per_cycle);
    let g = &target.mac_block;
    let kept = |s: MacShape| match target.skips_zero_weights {
        true => s.density(),
        false => 1.0,
    };
    let padded = |s: MacShape| s.padded(g.out_channels, g.in_channels) as f64 * kept(s);
    let count = |n: u64| n as f64;
    let compute = match work {
        Work::Conv(s) => at(padded(s), int8, u.conv),
        // A depthwise layer reduces over kernel positions only.
        Work::Depthwise(s) => at(
            s.padded(g.out_channels, 1) as f64 * kept(s),
            int8,
            u.depthwise,
        ),
        Work::FullyConnected(s) => at(padded(s), int8, u.fully_connected),
        Work::Fp8Macs(m) => at(count(m), target.fp8_macs_per_cycle, u.conv),
        Work::Pool(n) => at(count(n), streaming, u.pool),
        Work::Reduce(n) => at(count(n), streaming, u.reduce),
        Work::Elementwise(n) => at(count(n), streaming, u.elementwise),
        Work::Unary(n) => at(count(n), streaming, u.unary),
        Work::PRelu(n) => at(count(n), streaming, u.prelu),
        Work::Resize(n) => at(count(n), streaming, u.resize),
        Work::Softmax(n) => at(count(n), streaming, u.softmax),
        Work::Copy(n) => at(count(n), streaming, u.copy),
        Work::Cpu(cycles) => return (cycles, Bound::Cpu),
    };
    let transfer = (offchip_bytes as f64 / target.offchip_bytes_per_cycle).ceil() as u64
        + (sram_bytes as f64 / target.sram_bytes_per_cycle).ceil() as u64;
    let decode = match (work, target.weight_decode_bytes_per_cycle) {
        (Work::Conv(s) | Work::Depthwise(s) | Work::FullyConnected(s), Some(rate)) => {
            (s.weights() as f64 / rate).ceil() as u64
        }
        _ => 0,
    };
    let memory = transfer.max(decode);
    let overhead = target.command_overhead_cycles;
    if compute >= memory {
        (overhead + compute, Bound::Compute)
    } else {
        (overhead + memory, Bound::Memory)
    }
}

/// What each command of `p` does; `weight_bytes[i]` is the encoded size of weight block
/// `i`.
pub fn program_work(p: &Program, weight_bytes: &[u64]) -> Result<Vec<CommandWork>> {
    p.commands
        .iter()
        .map(|c| command_work(p, c, weight_bytes))
        .collect()
}

fn command_work(p: &Program, c: &Command, weight_bytes: &[u64]) -> Result<CommandWork> {
    let bytes = |ids: Vec<usize>| -> u64 {
        ids.iter()
            .filter_map(|&i| p.tensors.get(i))
            .map(|t| t.size as u64)
            .sum()
    };
    let activation_bytes = bytes(c.inputs(p)) + bytes(c.outputs(p));
    let out_elems: u64 = c
        .outputs(p)
        .iter()
        .filter_map(|&i| p.tensors.get(i))
        .map(|t| t.num_elements() as u64)
        .sum();
    let (name, macs, weight_block) = match c {
        Command::Conv2d(x) => (x.name.clone(), 0, Some(x.weights)),
        Command::FullyConnected(x) => (x.name.clone(), 0, Some(x.weights)),
        Command::Elementwise(x) => (x.name.clone(), 0, None),
        Command::Pool(x) => (
            x.name.clone(),
            out_elems * (x.kernel[0] * x.kernel[1]) as u64,
            None,
        ),
        Command::Reduce(x) => {
            let inputs: u64 = p
                .tensors
                .get(x.input)
                .map_or(0, |t| t.num_elements() as u64);
            (x.name.clone(), inputs, None)
        }
        Command::Concat(x) => (x.name.clone(), 0, None),
        Command::Quantize(x) => (x.name.clone(), 0, None),
        Command::Activate(x) => (x.name.clone(), 0, None),
        Command::Pad(x) => (x.name.clone(), 0, None),
        Command::Lookup(x) => (x.name.clone(), 0, None),
        Command::PRelu(x) => (x.name.clone(), 0, None),
        Command::Resize(x) => (x.name.clone(), 0, None),
        Command::Softmax(x) => (x.name.clone(), 0, None),
        Command::Requantize(x) => (x.name.clone(), 0, None),
        // Host kernels, priced as a CPU segment of their op (whose products
        // `total_macs` does not count).
        Command::Svdf(x) => (x.name.clone(), 0, None),
        Command::TableSoftmax(x) => (x.name.clone(), 0, None),
        Command::Cpu { segment } => {
            let s = p.cpu_segments.get(*segment).ok_or_else(|| {
                nnopt_compiler::Error::new(format!("CPU segment #{segment} does not exist"))
            })?;
            let macs = total_macs(&parse_graph(&s.graph)?);
            (s.nodes.join(", "), macs, None)
        }
    };
    // MACs of a weighted command: each output element takes one weight per input tap;
    // in a transposed convolution each input element feeds every output channel
    // through every kernel tap.
    let block = weight_block.and_then(|w| p.weights.get(w));
    let macs = match (block, c) {
        (Some(w), Command::Conv2d(cv)) if cv.transposed => {
            let input = p.tensors.get(cv.input).map_or(0, |t| t.num_elements());
            (input * w.channels() * cv.kernel[0] * cv.kernel[1]) as u64
        }
        (Some(w), _) => out_elems * (w.weights.len() / w.channels().max(1)) as u64,
        (None, _) => macs,
    };
    let fp8 = block.is_some_and(|w| w.fp8.is_some());
    // Constant data streamed in: encoded weight blocks, and the tables and slopes
    // carried by the command itself.
    let inline_bytes = match c {
        Command::Lookup(l) => l.table.len(),
        Command::Concat(cc) => cc.tables.len(),
        Command::PRelu(pr) => 2 * pr.alpha.len(),
        _ => 0,
    } as u64;
    let weight_bytes = weight_block
        .and_then(|w| weight_bytes.get(w))
        .copied()
        .unwrap_or(0)
        + inline_bytes;
    let shape = |taps: usize| {
        let (channels, reduction) = block.map_or((1, 1), |w| {
            (w.channels(), w.weights.len() / w.channels().max(1))
        });
        let zero_weights = block.map_or(0, |w| w.weights.iter().filter(|&&v| v == 0).count());
        MacShape {
            zero_weights: zero_weights as u64,
            ..MacShape::new(macs, channels as u64, reduction as u64, taps as u64)
        }
    };
    let work = match c {
        Command::Svdf(_) | Command::TableSoftmax(_) | Command::Cpu { .. } => {
            Work::Cpu(macs.max(out_elems))
        }
        Command::Conv2d(_) | Command::FullyConnected(_) if fp8 => Work::Fp8Macs(macs),
        Command::Conv2d(cv) if cv.groups > 1 => Work::Depthwise(shape(cv.kernel[0] * cv.kernel[1])),
        Command::Conv2d(cv) => Work::Conv(shape(cv.kernel[0] * cv.kernel[1])),
        Command::FullyConnected(_) => Work::FullyConnected(shape(1)),
        // Pooling and reductions read every input tap; the others one value per output.
        Command::Pool(_) => Work::Pool(macs),
        Command::Reduce(_) => Work::Reduce(macs),
        Command::Elementwise(_) => Work::Elementwise(out_elems),
        Command::Quantize(_)
        | Command::Activate(_)
        | Command::Lookup(_)
        | Command::Requantize(_) => Work::Unary(out_elems),
        Command::PRelu(_) => Work::PRelu(out_elems),
        Command::Resize(_) => Work::Resize(out_elems),
        Command::Softmax(_) => Work::Softmax(out_elems),
        Command::Concat(_) | Command::Pad(_) => Work::Copy(out_elems),
    };
    let on_cpu = c.on_host();
    Ok(CommandWork {
        name,
        kind: c.kind_name().to_string(),
        work,
        macs,
        weight_bytes: if on_cpu { 0 } else { weight_bytes },
        activation_bytes,
    })
}

/// The cost on `target` of commands doing `work` with an arena of `arena_bytes`.
pub fn price(work: &[CommandWork], target: &Target, arena_bytes: u64) -> Estimate {
    let fits = arena_bytes <= target.sram_bytes;
    let commands: Vec<CommandCost> = work.iter().map(|w| command_cost(w, target, fits)).collect();
    let cycles_where = |cpu: bool| -> u64 {
        commands
            .iter()
            .filter(|c| (c.bound == Bound::Cpu) == cpu)
            .map(|c| c.cycles)
            .sum()
    };
    let npu_cycles = cycles_where(false);
    Estimate {
        target: target.name.clone(),
        npu_cycles,
        cpu_cycles: cycles_where(true),
        macs: commands.iter().map(|c| c.macs).sum(),
        dma_bytes: commands.iter().map(|c| c.dma_bytes).sum(),
        arena_bytes,
        arena_fits_sram: fits,
        energy_uj: commands.iter().map(|c| c.energy_uj).sum(),
        npu_time_ms: npu_cycles as f64 / target.clock_hz as f64 * 1e3,
        commands,
    }
}

/// A command's off-chip and SRAM bytes, its arena in SRAM (`fits`) or spilled off-chip
/// (weights always stream from off-chip; CPU segments move nothing over it).
fn traffic(w: &CommandWork, fits: bool) -> (u64, u64) {
    let spilled = if fits || matches!(w.work, Work::Cpu(_)) {
        0
    } else {
        w.activation_bytes
    };
    (w.weight_bytes + spilled, w.activation_bytes - spilled)
}

/// A command's cycles on `target` and what bounds them (its [`roofline`] with the bytes
/// of [`command_cost`]), without the rest of its cost.
pub fn command_cycles(w: &CommandWork, target: &Target, fits: bool) -> (u64, Bound) {
    let (dma_bytes, sram_traffic) = traffic(w, fits);
    roofline(target, w.work, dma_bytes, sram_traffic)
}

/// One command's cost on `target`, its arena in SRAM (`fits`) or spilled off-chip.
pub fn command_cost(w: &CommandWork, target: &Target, fits: bool) -> CommandCost {
    let on_cpu = matches!(w.work, Work::Cpu(_));
    let (dma_bytes, sram_traffic) = traffic(w, fits);
    let (cycles, bound) = roofline(target, w.work, dma_bytes, sram_traffic);
    let e = &target.energy;
    let pj_per_mac = if matches!(w.work, Work::Fp8Macs(_)) {
        e.pj_per_fp8_mac
    } else {
        e.pj_per_int8_mac
    };
    let pj = w.macs as f64 * pj_per_mac
        + sram_traffic as f64 * e.pj_per_sram_byte
        + dma_bytes as f64 * e.pj_per_offchip_byte;
    CommandCost {
        name: w.name.clone(),
        kind: w.kind.clone(),
        macs: w.macs,
        cycles,
        bound,
        weight_bytes: w.weight_bytes,
        activation_bytes: w.activation_bytes,
        dma_bytes,
        energy_uj: if on_cpu { 0.0 } else { pj * 1e-6 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 convolution, 16 to 32 channels on 8x8 pixels, with `zero_weights` pruned.
    fn conv(zero_weights: u64) -> Work {
        let s = MacShape::new(64 * 32 * 16 * 9, 32, 16 * 9, 9);
        Work::Conv(MacShape { zero_weights, ..s })
    }

    #[test]
    fn zeros_are_skipped_only_where_the_target_can() {
        let dense = Target::preset("npu-256").unwrap();
        let sparse = Target {
            skips_zero_weights: true,
            ..dense.clone()
        };
        let cycles = |t: &Target, w: Work| roofline(t, w, 0, 0).0;
        let half = 32 * 16 * 9 / 2;
        assert_eq!(cycles(&dense, conv(half)), cycles(&dense, conv(0)));
        assert_eq!(cycles(&sparse, conv(0)), cycles(&dense, conv(0)));
        assert_eq!(cycles(&sparse, conv(half)), cycles(&dense, conv(0)) / 2);
        // Every weight zero: nothing to multiply.
        assert_eq!(cycles(&sparse, conv(32 * 16 * 9)), 0);
    }

    #[test]
    fn a_weight_decoder_counts_decoded_bytes() {
        let fast = Target::preset("npu-256").unwrap();
        let slow = Target {
            weight_decode_bytes_per_cycle: Some(0.5),
            ..fast.clone()
        };
        let (cycles, bound) = roofline(&slow, conv(0), 100, 0);
        // 4,608 decoded weights at half a byte a cycle outlast 1,152 cycles of MACs.
        assert_eq!((cycles, bound), (9_216, Bound::Memory));
        assert_eq!(roofline(&fast, conv(0), 100, 0).1, Bound::Compute);
        let yaml = |rate| {
            let t = Target {
                weight_decode_bytes_per_cycle: Some(rate),
                ..fast.clone()
            };
            serde_yaml_ng::to_string(&t).unwrap()
        };
        assert_eq!(Target::from_yaml(&yaml(0.5)).unwrap(), slow);
        assert!(Target::from_yaml(&yaml(0.0)).is_err());
    }
}
