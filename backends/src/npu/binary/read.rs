//! Loading and verifying `.npub` bytes.

use super::{fb, params, TargetInfo, CONTAINER, MAX_PROGRAM_BYTES};
use crate::npu::compress::decompress;
use crate::npu::program::{
    Activate, Command, Concat, Conv2d, CpuSegment, Elementwise, ElementwiseKind, Fp8Encoding,
    Fp8Stage, Fp8Weights, FullyConnected, IoBinding, IoConversion, Lookup, OutputStage, PRelu, Pad,
    Pool, PoolKind, Program, Quantize, Reduce, Requant, Requantize, Resize, Softmax, Svdf,
    TableSoftmax, TensorDesc, WeightBlock,
};
use nnopt_compiler::fp8::Fp8Format;
use nnopt_compiler::ir::{
    Activation, BinaryKind, DType, Layout, QuantParams, QuantizeRounding, ReduceKind,
};
use nnopt_compiler::{Error, Result};

/// Parses and verifies a binary: header, CRC, FlatBuffer structure, decoded weights and
/// every index. Errors say what is wrong; the caller adds the file name.
pub fn read(file: &[u8]) -> Result<(Program, TargetInfo)> {
    let body = CONTAINER.open(file)?;
    firmware_validation(file)?;
    let m = fb::root_as_model(body)
        .map_err(|e| Error::new(format!("NPU binary payload is malformed: {e}")))?;
    let target = m.target().ok_or_else(|| missing("target"))?;
    let target = TargetInfo {
        name: target.name().unwrap_or_default().to_string(),
        int8_macs_per_cycle: target.int8_macs_per_cycle(),
        fp8_macs_per_cycle: target.fp8_macs_per_cycle(),
        sram_bytes: target.sram_bytes(),
    };
    let tensors = m
        .tensors()
        .ok_or_else(|| missing("tensors"))?
        .iter()
        .map(|t| tensor(&t))
        .collect::<Result<Vec<_>>>()?;
    let bindings =
        |v: Option<flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<fb::IoBinding<'_>>>>,
         what: &str| {
            v.ok_or_else(|| missing(what))?
                .iter()
                .map(|b| binding(&b))
                .collect::<Result<Vec<_>>>()
        };
    let inputs = bindings(m.inputs(), "inputs")?;
    let outputs = bindings(m.outputs(), "outputs")?;
    let commands = m
        .commands()
        .ok_or_else(|| missing("commands"))?
        .iter()
        .enumerate()
        .map(|(i, c)| command(&c).map_err(|e| Error::new(format!("command #{i}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let arena_size = usize::try_from(m.arena_size())
        .ok()
        .filter(|&n| n <= MAX_PROGRAM_BYTES)
        .ok_or_else(|| over_budget(format!("an arena of {} bytes", m.arena_size())))?;
    let blocks = m.weights().ok_or_else(|| missing("weights"))?;
    for (i, w) in blocks.iter().enumerate() {
        declared_sizes_agree(&w).map_err(|e| Error::new(format!("weight block #{i}: {e}")))?;
    }
    let decoded: u64 = blocks.iter().map(|w| decoded_bytes(&w)).sum();
    if decoded > (MAX_PROGRAM_BYTES - arena_size) as u64 {
        return Err(over_budget(format!(
            "an arena of {arena_size} bytes and {decoded} bytes of decoded weights"
        )));
    }
    let weights = blocks
        .iter()
        .enumerate()
        .map(|(i, w)| weight_block(&w).map_err(|e| Error::new(format!("weight block #{i}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let cpu_segments = m
        .cpu_segments()
        .ok_or_else(|| missing("cpu_segments"))?
        .iter()
        .map(|s| CpuSegment {
            graph: s.graph().unwrap_or_default().to_string(),
            inputs: usizes(s.inputs()),
            outputs: usizes(s.outputs()),
            nodes: s
                .nodes()
                .map(|n| n.iter().map(str::to_string).collect())
                .unwrap_or_default(),
        })
        .collect();
    let p = Program {
        name: m.name().unwrap_or_default().to_string(),
        inputs,
        outputs,
        tensors,
        arena_size,
        commands,
        weights,
        cpu_segments,
    };
    super::validate(&p)?;
    Ok((p, target))
}

/// Validates the binary as the firmware runtime does (`nnopt_rt::Model::load`: every
/// table, index, size, parameter and command plan), so that whatever `nnopt run` accepts,
/// firmware accepts too. Programs the runtime does not execute (FP8 commands, CPU
/// segments) are checked by [`super::validate`] alone.
fn firmware_validation(file: &[u8]) -> Result<()> {
    match nnopt_rt::Model::load(file) {
        Err(e) if e.kind != nnopt_rt::ErrorKind::Unsupported => {
            Err(Error::new(format!("NPU binary is malformed: {e}")))
        }
        _ => Ok(()),
    }
}

/// The bytes of a weight block's parts once decoded, as the block declares them.
fn decoded_bytes(w: &fb::WeightBlock<'_>) -> u64 {
    [
        w.weights_len(),
        w.zero_points_len(),
        w.bias_len(),
        w.requant_len(),
        w.scales_len(),
        w.fp8_bias_len(),
    ]
    .into_iter()
    .map(u64::from)
    .sum()
}

/// Checks a block's declared part sizes against each other before anything is decoded:
/// whole requantization records, and at most a 5-byte number per channel for zero points
/// and biases, so decoding time is bounded by the weights and their channels.
fn declared_sizes_agree(w: &fb::WeightBlock<'_>) -> Result<()> {
    let requant = w.requant_len() as usize;
    if !requant.is_multiple_of(params::REQUANT_BYTES) {
        return Err(Error::new(format!(
            "{requant} bytes of requantization records are not whole 5-byte records"
        )));
    }
    let channels = (requant / params::REQUANT_BYTES).max(w.scales_len() as usize / 4);
    let most = 5 * channels;
    if w.zero_points_len() as usize > most || w.bias_len() as usize > most {
        return Err(Error::new(format!(
            "{} bytes of zero points and {} of biases for {channels} channels",
            w.zero_points_len(),
            w.bias_len()
        )));
    }
    Ok(())
}

fn over_budget(what: String) -> Error {
    Error::new(format!(
        "NPU binary declares {what}: more than the {} MiB a program may take",
        MAX_PROGRAM_BYTES >> 20
    ))
}

fn missing(what: &str) -> Error {
    Error::new(format!("NPU binary has no {what}"))
}

fn usizes(v: Option<flatbuffers::Vector<'_, u32>>) -> Vec<usize> {
    v.map(|v| v.iter().map(|x| x as usize).collect())
        .unwrap_or_default()
}

fn array<const N: usize>(
    v: Option<flatbuffers::Vector<'_, u32>>,
    what: &str,
) -> Result<[usize; N]> {
    let v = usizes(v);
    v.try_into()
        .map_err(|v: Vec<usize>| Error::new(format!("{what} has {} values, expected {N}", v.len())))
}

fn dtype(d: fb::DType) -> Result<DType> {
    Ok(match d {
        fb::DType::F32 => DType::F32,
        fb::DType::I8 => DType::I8,
        fb::DType::U8 => DType::U8,
        fb::DType::I16 => DType::I16,
        fb::DType::I32 => DType::I32,
        fb::DType::I64 => DType::I64,
        fb::DType::Bool => DType::Bool,
        fb::DType::F8E4M3 => DType::F8E4M3,
        fb::DType::F8E5M2 => DType::F8E5M2,
        other => return Err(Error::new(format!("unknown element type code {}", other.0))),
    })
}

fn layout(l: fb::Layout) -> Result<Layout> {
    match l {
        fb::Layout::Nchw => Ok(Layout::Nchw),
        fb::Layout::Nhwc => Ok(Layout::Nhwc),
        other => Err(Error::new(format!("unknown layout code {}", other.0))),
    }
}

fn tensor(t: &fb::Tensor<'_>) -> Result<TensorDesc> {
    let quant = t.quant().map(|q| QuantParams {
        scale: q.scale().map(|v| v.iter().collect()).unwrap_or_default(),
        zero_point: q
            .zero_point()
            .map(|v| v.iter().collect())
            .unwrap_or_default(),
        axis: usize::try_from(q.axis()).ok(),
    });
    Ok(TensorDesc {
        name: t.name().unwrap_or_default().to_string(),
        dtype: dtype(t.dtype())?,
        shape: usizes(t.shape()),
        quant,
        offset: t.offset() as usize,
        size: t.size() as usize,
    })
}

fn binding(b: &fb::IoBinding<'_>) -> Result<IoBinding> {
    let conversion = match b.conversion() {
        fb::IoConversion::None => IoConversion::None,
        fb::IoConversion::QuantizeHalfEven => IoConversion::Quantize {
            rounding: QuantizeRounding::HalfEven,
        },
        fb::IoConversion::QuantizeTflite => IoConversion::Quantize {
            rounding: QuantizeRounding::Tflite,
        },
        fb::IoConversion::Dequantize => IoConversion::Dequantize,
        other => {
            return Err(Error::new(format!(
                "unknown IO conversion code {}",
                other.0
            )))
        }
    };
    Ok(IoBinding {
        name: b.name().unwrap_or_default().to_string(),
        tensor: b.tensor() as usize,
        dtype: dtype(b.dtype())?,
        shape: usizes(b.shape()),
        conversion,
    })
}

fn stage(s: Option<&fb::OutputStage>) -> Result<OutputStage> {
    let s = s.ok_or_else(|| Error::new("missing output stage"))?;
    Ok(OutputStage {
        input_zero_point: s.input_zero_point(),
        output_zero_point: s.output_zero_point(),
        act_min: s.act_min(),
        act_max: s.act_max(),
    })
}

/// An FP8 format from its element type code.
fn fp8_format(d: fb::DType, what: &str) -> Result<Fp8Format> {
    Fp8Format::of(dtype(d)?).ok_or_else(|| {
        Error::new(format!(
            "{what} is {}, not an FP8 type",
            dtype(d).map_or("?".into(), |t| t.to_string())
        ))
    })
}

fn activation(a: Option<fb::Activation<'_>>) -> Result<Option<Activation>> {
    use fb::ActivationKind as K;
    let Some(a) = a else {
        return Ok(None);
    };
    let (x, y) = (a.a(), a.b());
    Ok(Some(match a.kind() {
        K::None => return Ok(None),
        K::Relu => Activation::Relu,
        K::Relu6 => Activation::Relu6,
        K::ReluN1To1 => Activation::ReluN1To1,
        K::Clip => Activation::Clip { min: x, max: y },
        K::LeakyRelu => Activation::LeakyRelu { alpha: x },
        K::Sigmoid => Activation::Sigmoid,
        K::Tanh => Activation::Tanh,
        K::HardSigmoid => Activation::HardSigmoid { alpha: x, beta: y },
        K::HardSwish => Activation::HardSwish,
        other => return Err(Error::new(format!("unknown activation code {}", other.0))),
    }))
}

fn encoding(e: Option<fb::Fp8Encoding<'_>>) -> Result<Option<Fp8Encoding>> {
    e.map(|e| {
        Ok(Fp8Encoding {
            format: fp8_format(e.format(), "output encoding")?,
            scale: e.scale(),
        })
    })
    .transpose()
}

fn fp8_stage(s: Option<fb::Fp8Stage<'_>>) -> Result<Option<Fp8Stage>> {
    let Some(s) = s else {
        return Ok(None);
    };
    let output = match s.output_format() {
        fb::DType::F32 => None,
        d => Some(Fp8Encoding {
            format: fp8_format(d, "FP8 stage output")?,
            scale: s.output_scale(),
        }),
    };
    Ok(Some(Fp8Stage {
        input_format: fp8_format(s.input_format(), "FP8 stage input")?,
        input_scale: s.input_scale(),
        activation: activation(s.activation())?,
        output,
    }))
}

fn requant(r: Option<&fb::Requant>) -> Result<Requant> {
    let r = r.ok_or_else(|| Error::new("missing requantization"))?;
    Ok(Requant {
        multiplier: r.multiplier(),
        shift: r.shift(),
    })
}

/// int8 or int16 codes (`dtype`) from their little-endian bytes.
fn codes(v: Option<flatbuffers::Vector<'_, u8>>, dtype: DType) -> Result<Vec<i16>> {
    let bytes = v.map_or(&[][..], |v| v.bytes());
    match dtype {
        DType::I8 => Ok(bytes.iter().map(|&b| i16::from(b as i8)).collect()),
        DType::I16 if bytes.len().is_multiple_of(2) => Ok(bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()),
        _ => Err(Error::new(format!(
            "svdf state of {} bytes is not int8 or int16 codes of {dtype}",
            bytes.len()
        ))),
    }
}

fn command(c: &fb::CommandEntry<'_>) -> Result<Command> {
    let name = |n: Option<&str>| n.unwrap_or_default().to_string();
    if let Some(c) = c.command_as_conv_2d() {
        return Ok(Command::Conv2d(Conv2d {
            name: name(c.name()),
            input: c.input() as usize,
            output: c.output() as usize,
            weights: c.weights() as usize,
            layout: layout(c.layout())?,
            kernel: array(c.kernel(), "kernel")?,
            strides: array(c.strides(), "strides")?,
            dilations: array(c.dilations(), "dilations")?,
            pads: array(c.pads(), "pads")?,
            groups: c.groups() as usize,
            stage: stage(c.stage())?,
            fp8: fp8_stage(c.fp8())?,
            transposed: c.transposed(),
        }));
    }
    if let Some(c) = c.command_as_fully_connected() {
        return Ok(Command::FullyConnected(FullyConnected {
            name: name(c.name()),
            input: c.input() as usize,
            output: c.output() as usize,
            weights: c.weights() as usize,
            stage: stage(c.stage())?,
            fp8: fp8_stage(c.fp8())?,
        }));
    }
    if let Some(e) = c.command_as_elementwise() {
        let kind = match e.op() {
            op if e.is_f32() => ElementwiseKind::F32 {
                op: match op {
                    fb::ElementwiseOp::Add => BinaryKind::Add,
                    fb::ElementwiseOp::Sub => BinaryKind::Sub,
                    fb::ElementwiseOp::Mul => BinaryKind::Mul,
                    fb::ElementwiseOp::Div => BinaryKind::Div,
                    fb::ElementwiseOp::Max => BinaryKind::Max,
                    fb::ElementwiseOp::Min => BinaryKind::Min,
                    other => {
                        return Err(Error::new(format!(
                            "unknown elementwise op code {}",
                            other.0
                        )))
                    }
                },
                activation: activation(e.activation())?,
            },
            fb::ElementwiseOp::Add | fb::ElementwiseOp::Sub => ElementwiseKind::AddSub {
                subtract: e.op() == fb::ElementwiseOp::Sub,
                left_shift: e.left_shift(),
                input_a: requant(e.input_a())?,
                input_b: requant(e.input_b())?,
                output: requant(e.output_requant())?,
            },
            fb::ElementwiseOp::Mul => ElementwiseKind::Mul {
                output: requant(e.output_requant())?,
            },
            other => {
                return Err(Error::new(format!(
                    "unknown elementwise op code {}",
                    other.0
                )))
            }
        };
        return Ok(Command::Elementwise(Elementwise {
            name: name(e.name()),
            a: e.a() as usize,
            b: e.b() as usize,
            output: e.output() as usize,
            kind,
            a_zero_point: e.a_zero_point(),
            b_zero_point: e.b_zero_point(),
            output_zero_point: e.output_zero_point(),
            act_min: e.act_min(),
            act_max: e.act_max(),
            encode: encoding(e.encode())?,
        }));
    }
    if let Some(p) = c.command_as_pool() {
        let kind = match p.kind() {
            fb::PoolKind::Max => PoolKind::Max,
            fb::PoolKind::Avg => PoolKind::Avg,
            other => return Err(Error::new(format!("unknown pool kind code {}", other.0))),
        };
        return Ok(Command::Pool(Pool {
            name: name(p.name()),
            input: p.input() as usize,
            output: p.output() as usize,
            kind,
            layout: layout(p.layout())?,
            kernel: array(p.kernel(), "kernel")?,
            strides: array(p.strides(), "strides")?,
            pads: array(p.pads(), "pads")?,
            act_min: p.act_min(),
            act_max: p.act_max(),
            activation: activation(p.activation())?,
            encode: encoding(p.encode())?,
        }));
    }
    if let Some(c) = c.command_as_concat() {
        return Ok(Command::Concat(Concat {
            name: name(c.name()),
            inputs: usizes(c.inputs()),
            output: c.output() as usize,
            axis: c.axis() as usize,
            tables: c.tables().map(|t| t.bytes().to_vec()).unwrap_or_default(),
        }));
    }
    if let Some(l) = c.command_as_lookup() {
        return Ok(Command::Lookup(Lookup {
            name: name(l.name()),
            input: l.input() as usize,
            output: l.output() as usize,
            table: l.table().map(|t| t.bytes().to_vec()).unwrap_or_default(),
        }));
    }
    if let Some(r) = c.command_as_resize() {
        return Ok(Command::Resize(Resize {
            name: name(r.name()),
            input: r.input() as usize,
            output: r.output() as usize,
            bilinear: r.bilinear(),
            align_corners: r.align_corners(),
            half_pixel_centers: r.half_pixel_centers(),
        }));
    }
    if let Some(sm) = c.command_as_softmax() {
        return Ok(Command::Softmax(Softmax {
            name: name(sm.name()),
            input: sm.input() as usize,
            output: sm.output() as usize,
            axis: sm.axis() as usize,
            multiplier: sm.multiplier(),
            left_shift: sm.left_shift(),
        }));
    }
    if let Some(pr) = c.command_as_prelu() {
        return Ok(Command::PRelu(PRelu {
            name: name(pr.name()),
            input: pr.input() as usize,
            output: pr.output() as usize,
            alpha: pr.alpha().map(|a| a.iter().collect()).unwrap_or_default(),
            alpha_shape: usizes(pr.alpha_shape()),
            input_zero_point: pr.input_zero_point(),
            output_zero_point: pr.output_zero_point(),
            identity: requant(pr.identity())?,
            negative: requant(pr.negative())?,
            act_min: pr.act_min(),
            act_max: pr.act_max(),
        }));
    }
    if let Some(r) = c.command_as_reduce() {
        return Ok(Command::Reduce(Reduce {
            name: name(r.name()),
            input: r.input() as usize,
            output: r.output() as usize,
            axes: usizes(r.axes()),
            input_zero_point: r.input_zero_point(),
            output_zero_point: r.output_zero_point(),
            requant: requant(r.requant())?,
            act_min: r.act_min(),
            act_max: r.act_max(),
            float: match r.float_kind() {
                fb::FloatReduce::None => None,
                fb::FloatReduce::Mean => Some(ReduceKind::Mean),
                fb::FloatReduce::Sum => Some(ReduceKind::Sum),
                fb::FloatReduce::Max => Some(ReduceKind::Max),
                fb::FloatReduce::Min => Some(ReduceKind::Min),
                other => return Err(Error::new(format!("unknown reduction code {}", other.0))),
            },
            encode: encoding(r.encode())?,
        }));
    }
    if let Some(q) = c.command_as_quantize() {
        return Ok(Command::Quantize(Quantize {
            name: name(q.name()),
            input: q.input() as usize,
            output: q.output() as usize,
            encoding: Fp8Encoding {
                format: fp8_format(q.format(), "quantize output")?,
                scale: q.scale(),
            },
        }));
    }
    if let Some(a) = c.command_as_activate() {
        return Ok(Command::Activate(Activate {
            name: name(a.name()),
            input: a.input() as usize,
            output: a.output() as usize,
            activation: activation(a.activation())?
                .ok_or_else(|| Error::new("activation command without an activation"))?,
            encode: encoding(a.encode())?,
        }));
    }
    if let Some(pd) = c.command_as_pad() {
        let flat = usizes(pd.pads());
        if !flat.len().is_multiple_of(2) {
            return Err(Error::new("pad needs (before, after) pairs"));
        }
        return Ok(Command::Pad(Pad {
            name: name(pd.name()),
            input: pd.input() as usize,
            output: pd.output() as usize,
            pads: flat.chunks_exact(2).map(|p| (p[0], p[1])).collect(),
            value: pd.value(),
            fill: pd.fill(),
            encode: encoding(pd.encode())?,
        }));
    }
    if let Some(r) = c.command_as_requantize() {
        return Ok(Command::Requantize(Requantize {
            name: name(r.name()),
            input: r.input() as usize,
            output: r.output() as usize,
            input_zero_point: r.input_zero_point(),
            output_zero_point: r.output_zero_point(),
            requant: requant(r.requant())?,
        }));
    }
    if let Some(sv) = c.command_as_svdf() {
        let state_type = dtype(sv.state_type())?;
        return Ok(Command::Svdf(Svdf {
            name: name(sv.name()),
            input: sv.input() as usize,
            output: sv.output() as usize,
            rank: sv.rank() as usize,
            memory: sv.memory() as usize,
            state_type,
            weights_feature: sv
                .weights_feature()
                .map(|v| v.iter().collect())
                .unwrap_or_default(),
            weights_time: codes(sv.weights_time(), state_type)?,
            state: codes(sv.state(), state_type)?,
            bias: sv.bias().map(|v| v.iter().collect()).unwrap_or_default(),
            input_zero_point: sv.input_zero_point(),
            state_zero_point: sv.state_zero_point(),
            output_zero_point: sv.output_zero_point(),
            feature: requant(sv.feature())?,
            time: requant(sv.time())?,
        }));
    }
    if let Some(sm) = c.command_as_table_softmax() {
        return Ok(Command::TableSoftmax(TableSoftmax {
            name: name(sm.name()),
            input: sm.input() as usize,
            output: sm.output() as usize,
            axis: sm.axis() as usize,
            table: sm.table().map(|v| v.iter().collect()).unwrap_or_default(),
            output_scale: sm.output_scale(),
            output_zero_point: sm.output_zero_point(),
        }));
    }
    if let Some(c) = c.command_as_cpu() {
        return Ok(Command::Cpu {
            segment: c.segment() as usize,
        });
    }
    Err(Error::new(format!(
        "unknown command type code {}",
        c.command_type().0
    )))
}

fn weight_block(w: &fb::WeightBlock<'_>) -> Result<WeightBlock> {
    let part = |v: Option<flatbuffers::Vector<'_, u8>>, len: u32, what: &str| {
        let v = v.ok_or_else(|| Error::new(format!("missing {what}")))?;
        decompress(v.bytes(), len as usize).map_err(|e| Error::new(format!("{what}: {e}")))
    };
    let weights = part(w.weights(), w.weights_len(), "weights")?;
    let zero_points = part(w.zero_points(), w.zero_points_len(), "zero points")?;
    let bias = part(w.bias(), w.bias_len(), "bias")?;
    let requant = params::decode_requant(&part(w.requant(), w.requant_len(), "requantization")?)?;
    let channels = requant.len();
    let fp8 = match w.weight_type() {
        fb::DType::I8 => None,
        d => {
            let f32s = |bytes: Vec<u8>, what: &str| -> Result<Vec<f32>> {
                if !bytes.len().is_multiple_of(4) {
                    return Err(Error::new(format!(
                        "{what}: {} bytes are not whole f32 values",
                        bytes.len()
                    )));
                }
                Ok(bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect())
            };
            Some(Fp8Weights {
                format: fp8_format(d, "weight type")?,
                scales: f32s(part(w.scales(), w.scales_len(), "scales")?, "scales")?,
                bias: f32s(
                    part(w.fp8_bias(), w.fp8_bias_len(), "FP8 bias")?,
                    "FP8 bias",
                )?,
            })
        }
    };
    Ok(WeightBlock {
        weights: weights.into_iter().map(|b| b as i8).collect(),
        weight_zero_points: params::decode_ints(&zero_points, channels)?,
        bias: params::decode_ints(&bias, channels)?,
        requant,
        fp8,
    })
}
