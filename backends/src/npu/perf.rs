//! The performance model: per command cycles, memory traffic and energy on a [`Target`].
//!
//! Each command is a roofline: its compute cycles (MACs over the target's int8 or FP8 MAC
//! rate, as the layer's weights are int8 or FP8, or
//! output elements over its elementwise rate) overlap with its memory cycles (weights
//! streamed from off-chip memory, activations read and written in SRAM, or off-chip when
//! the arena does not fit in SRAM); the larger one is the command's cycle count and
//! names it compute- or memory-bound. Pooling and reductions count the values they read
//! as MACs, processed at the elementwise rate. Energy sums per-MAC and per-byte constants.
//! CPU-fallback segments are costed at one MAC per cycle on the host CPU and reported
//! apart from NPU time.

use super::program::{Command, Program};
use super::target::Target;
use nnopt_compiler::analysis::total_macs;
use nnopt_compiler::ir::text::parse_graph;
use nnopt_compiler::Result;
use serde::Serialize;

/// What limits a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    Compute,
    Memory,
    /// Runs on the host CPU.
    Cpu,
}

/// The cost of one command.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommandCost {
    pub name: String,
    pub kind: &'static str,
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

/// The compute side of an NPU command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Multiply-accumulates at the int8 MAC rate (convolutions, fully connected).
    Macs(u64),
    /// Multiply-accumulates at the FP8 MAC rate (FP8 convolutions, fully connected).
    Fp8Macs(u64),
    /// Values read at the elementwise rate (pooling, reductions).
    Taps(u64),
    /// Output elements at the elementwise rate.
    Elements(u64),
    /// Only data movement (concatenation).
    Copy,
}

/// A command's cycles on `target` and what bounds them: the larger of its compute cycles
/// and its memory cycles (`offchip_bytes` over the off-chip bandwidth plus `sram_bytes`
/// over the SRAM bandwidth).
pub fn roofline(target: &Target, work: Work, offchip_bytes: u64, sram_bytes: u64) -> (u64, Bound) {
    let compute = match work {
        Work::Macs(m) => m.div_ceil(target.int8_macs_per_cycle),
        Work::Fp8Macs(m) => m.div_ceil(target.fp8_macs_per_cycle),
        Work::Taps(n) | Work::Elements(n) => n.div_ceil(target.elementwise_per_cycle),
        Work::Copy => 0,
    };
    let memory = offchip_bytes.div_ceil(target.offchip_bytes_per_cycle)
        + sram_bytes.div_ceil(target.sram_bytes_per_cycle);
    if compute >= memory {
        (compute, Bound::Compute)
    } else {
        (memory, Bound::Memory)
    }
}

/// Estimates `p` on `target`; `weight_bytes[i]` is the encoded size of weight block `i`.
pub fn estimate(p: &Program, target: &Target, weight_bytes: &[u64]) -> Result<Estimate> {
    let fits = p.arena_size as u64 <= target.sram_bytes;
    let e = &target.energy;
    let mut commands = Vec::with_capacity(p.commands.len());
    for c in &p.commands {
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
        if let Command::Cpu { .. } = c {
            commands.push(CommandCost {
                name,
                kind: c.kind_name(),
                macs,
                cycles: macs.max(out_elems),
                bound: Bound::Cpu,
                weight_bytes: 0,
                activation_bytes,
                dma_bytes: 0,
                energy_uj: 0.0,
            });
            continue;
        }
        let work = match c {
            Command::Conv2d(_) | Command::FullyConnected(_) if fp8 => Work::Fp8Macs(macs),
            Command::Conv2d(_) | Command::FullyConnected(_) => Work::Macs(macs),
            Command::Concat(_) | Command::Pad(_) => Work::Copy,
            // Pooling and reductions read every input tap; elementwise ops one value per
            // output.
            Command::Pool(_) | Command::Reduce(_) => Work::Taps(macs),
            _ => Work::Elements(out_elems),
        };
        let spilled = if fits { 0 } else { activation_bytes };
        let dma_bytes = weight_bytes + spilled;
        let sram_traffic = activation_bytes - spilled;
        let (cycles, bound) = roofline(target, work, dma_bytes, sram_traffic);
        let pj_per_mac = if fp8 {
            e.pj_per_fp8_mac
        } else {
            e.pj_per_int8_mac
        };
        let pj = macs as f64 * pj_per_mac
            + sram_traffic as f64 * e.pj_per_sram_byte
            + dma_bytes as f64 * e.pj_per_offchip_byte;
        commands.push(CommandCost {
            name,
            kind: c.kind_name(),
            macs,
            cycles,
            bound,
            weight_bytes,
            activation_bytes,
            dma_bytes,
            energy_uj: pj * 1e-6,
        });
    }
    let npu: Vec<&CommandCost> = commands.iter().filter(|c| c.bound != Bound::Cpu).collect();
    let npu_cycles = npu.iter().map(|c| c.cycles).sum();
    Ok(Estimate {
        target: target.name.clone(),
        npu_cycles,
        cpu_cycles: commands
            .iter()
            .filter(|c| c.bound == Bound::Cpu)
            .map(|c| c.cycles)
            .sum(),
        macs: commands.iter().map(|c| c.macs).sum(),
        dma_bytes: commands.iter().map(|c| c.dma_bytes).sum(),
        arena_bytes: p.arena_size as u64,
        arena_fits_sram: fits,
        energy_uj: commands.iter().map(|c| c.energy_uj).sum(),
        npu_time_ms: npu_cycles as f64 / target.clock_hz as f64 * 1e3,
        commands,
    })
}
