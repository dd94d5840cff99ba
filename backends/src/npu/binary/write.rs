//! Serialization of a [`Program`] to `.npub` bytes.

use super::{fb, CONTAINER};
use crate::npu::compress::CompressedBlock;
use crate::npu::program::{
    Command, ElementwiseKind, Fp8Encoding, Fp8Stage, IoBinding, IoConversion, OutputStage,
    PoolKind, Program, Requant, TensorDesc,
};
use crate::npu::target::Target;
use flatbuffers::{FlatBufferBuilder, WIPOffset};
use nnopt_compiler::ir::{Activation, BinaryKind, DType, Layout, QuantizeRounding, ReduceKind};
use nnopt_compiler::{Error, Result};

/// Serializes `p` for `target` with its weight blocks compressed as `weights` (see
/// [`compress_weights`](crate::npu::compress::compress_weights)); returns the file bytes.
pub fn write(p: &Program, target: &Target, weights: &[CompressedBlock]) -> Result<Vec<u8>> {
    super::validate(p)?;
    if weights.len() != p.weights.len() {
        return Err(Error::new(format!(
            "{} compressed weight blocks for {} blocks",
            weights.len(),
            p.weights.len()
        )));
    }
    let mut b = FlatBufferBuilder::new();
    let weights: Vec<_> = weights.iter().map(|w| weight_block(&mut b, w)).collect();
    let weights = b.create_vector(&weights);
    let tensors: Vec<_> = p.tensors.iter().map(|t| tensor(&mut b, t)).collect();
    let tensors = b.create_vector(&tensors);
    let inputs: Vec<_> = p.inputs.iter().map(|io| binding(&mut b, io)).collect();
    let inputs = b.create_vector(&inputs);
    let outputs: Vec<_> = p.outputs.iter().map(|io| binding(&mut b, io)).collect();
    let outputs = b.create_vector(&outputs);
    let commands: Vec<_> = p.commands.iter().map(|c| command(&mut b, c)).collect();
    let commands = b.create_vector(&commands);
    let segments: Vec<_> = p
        .cpu_segments
        .iter()
        .map(|s| {
            let graph = b.create_string(&s.graph);
            let inputs = b.create_vector(&ids(&s.inputs));
            let outputs = b.create_vector(&ids(&s.outputs));
            let names: Vec<_> = s.nodes.iter().map(|n| b.create_string(n)).collect();
            let nodes = b.create_vector(&names);
            fb::CpuSegment::create(
                &mut b,
                &fb::CpuSegmentArgs {
                    graph: Some(graph),
                    inputs: Some(inputs),
                    outputs: Some(outputs),
                    nodes: Some(nodes),
                },
            )
        })
        .collect();
    let cpu_segments = b.create_vector(&segments);
    let target_name = b.create_string(&target.name);
    let target = fb::Target::create(
        &mut b,
        &fb::TargetArgs {
            name: Some(target_name),
            int8_macs_per_cycle: target.int8_macs_per_cycle,
            sram_bytes: target.sram_bytes,
            fp8_macs_per_cycle: target.fp8_macs_per_cycle,
        },
    );
    let name = b.create_string(&p.name);
    let model = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            name: Some(name),
            target: Some(target),
            arena_size: p.arena_size as u64,
            tensors: Some(tensors),
            inputs: Some(inputs),
            outputs: Some(outputs),
            commands: Some(commands),
            weights: Some(weights),
            cpu_segments: Some(cpu_segments),
        },
    );
    fb::finish_model_buffer(&mut b, model);
    Ok(CONTAINER.wrap(b.finished_data()))
}

fn ids(v: &[usize]) -> Vec<u32> {
    v.iter().map(|&i| i as u32).collect()
}

fn weight_block<'a>(
    b: &mut FlatBufferBuilder<'a>,
    c: &CompressedBlock,
) -> WIPOffset<fb::WeightBlock<'a>> {
    let all = c.all_parts();
    let v: Vec<_> = all
        .iter()
        .map(|(coded, _)| b.create_vector(coded))
        .collect();
    let len = |i: usize| all.get(i).map_or(0, |p| p.1 as u32);
    fb::WeightBlock::create(
        b,
        &fb::WeightBlockArgs {
            weights: Some(v[0]),
            weights_len: len(0),
            zero_points: Some(v[1]),
            zero_points_len: len(1),
            bias: Some(v[2]),
            bias_len: len(2),
            requant: Some(v[3]),
            requant_len: len(3),
            weight_type: c.fp8.as_ref().map_or(fb::DType::I8, |f| dtype(f.0)),
            scales: v.get(4).copied(),
            scales_len: len(4),
            fp8_bias: v.get(5).copied(),
            fp8_bias_len: len(5),
        },
    )
}

pub(super) fn dtype(d: DType) -> fb::DType {
    match d {
        DType::F32 => fb::DType::F32,
        DType::I8 => fb::DType::I8,
        DType::U8 => fb::DType::U8,
        DType::I16 => fb::DType::I16,
        DType::I32 => fb::DType::I32,
        DType::I64 => fb::DType::I64,
        DType::Bool => fb::DType::Bool,
        DType::F8E4M3 => fb::DType::F8E4M3,
        DType::F8E5M2 => fb::DType::F8E5M2,
        _ => unreachable!("npu::compile refuses {d} values"),
    }
}

fn layout(l: Layout) -> fb::Layout {
    match l {
        Layout::Nchw => fb::Layout::Nchw,
        Layout::Nhwc => fb::Layout::Nhwc,
    }
}

fn tensor<'a>(b: &mut FlatBufferBuilder<'a>, t: &TensorDesc) -> WIPOffset<fb::Tensor<'a>> {
    let name = b.create_string(&t.name);
    let shape = b.create_vector(&ids(&t.shape));
    let quant = t.quant.as_ref().map(|q| {
        let scale = b.create_vector(&q.scale);
        let zero_point = b.create_vector(&q.zero_point);
        fb::Quant::create(
            b,
            &fb::QuantArgs {
                scale: Some(scale),
                zero_point: Some(zero_point),
                axis: q.axis.map_or(-1, |a| a as i32),
            },
        )
    });
    fb::Tensor::create(
        b,
        &fb::TensorArgs {
            name: Some(name),
            dtype: dtype(t.dtype),
            shape: Some(shape),
            quant,
            offset: t.offset as u32,
            size: t.size as u32,
        },
    )
}

fn binding<'a>(b: &mut FlatBufferBuilder<'a>, io: &IoBinding) -> WIPOffset<fb::IoBinding<'a>> {
    let name = b.create_string(&io.name);
    let shape = b.create_vector(&ids(&io.shape));
    let conversion = match io.conversion {
        IoConversion::None => fb::IoConversion::None,
        IoConversion::Quantize {
            rounding: QuantizeRounding::HalfEven,
        } => fb::IoConversion::QuantizeHalfEven,
        IoConversion::Quantize {
            rounding: QuantizeRounding::Tflite,
        } => fb::IoConversion::QuantizeTflite,
        IoConversion::Dequantize => fb::IoConversion::Dequantize,
    };
    fb::IoBinding::create(
        b,
        &fb::IoBindingArgs {
            name: Some(name),
            tensor: io.tensor as u32,
            dtype: dtype(io.dtype),
            shape: Some(shape),
            conversion,
        },
    )
}

fn stage(s: &OutputStage) -> fb::OutputStage {
    fb::OutputStage::new(
        s.input_zero_point,
        s.output_zero_point,
        s.act_min,
        s.act_max,
    )
}

/// The flatbuffer form of an optional fused activation (`None` when absent).
fn activation<'a>(
    b: &mut FlatBufferBuilder<'a>,
    act: Option<Activation>,
) -> Option<WIPOffset<fb::Activation<'a>>> {
    use fb::ActivationKind as K;
    let (kind, a, bb) = match act? {
        Activation::Relu => (K::Relu, 0.0, 0.0),
        Activation::Relu6 => (K::Relu6, 0.0, 0.0),
        Activation::ReluN1To1 => (K::ReluN1To1, 0.0, 0.0),
        Activation::Clip { min, max } => (K::Clip, min, max),
        Activation::LeakyRelu { alpha } => (K::LeakyRelu, alpha, 0.0),
        Activation::Sigmoid => (K::Sigmoid, 0.0, 0.0),
        Activation::Tanh => (K::Tanh, 0.0, 0.0),
        Activation::HardSigmoid { alpha, beta } => (K::HardSigmoid, alpha, beta),
        Activation::HardSwish => (K::HardSwish, 0.0, 0.0),
        // `supported::has_command` keeps binarizing ops off the NPU.
        Activation::Binarize => unreachable!("binarize never reaches an NPU command"),
    };
    Some(fb::Activation::create(
        b,
        &fb::ActivationArgs { kind, a, b: bb },
    ))
}

fn encoding<'a>(
    b: &mut FlatBufferBuilder<'a>,
    e: Option<Fp8Encoding>,
) -> Option<WIPOffset<fb::Fp8Encoding<'a>>> {
    let e = e?;
    Some(fb::Fp8Encoding::create(
        b,
        &fb::Fp8EncodingArgs {
            format: dtype(e.format.dtype()),
            scale: e.scale,
        },
    ))
}

fn fp8_stage<'a>(
    b: &mut FlatBufferBuilder<'a>,
    st: Option<&Fp8Stage>,
) -> Option<WIPOffset<fb::Fp8Stage<'a>>> {
    let st = st?;
    let act = activation(b, st.activation);
    Some(fb::Fp8Stage::create(
        b,
        &fb::Fp8StageArgs {
            input_format: dtype(st.input_format.dtype()),
            input_scale: st.input_scale,
            activation: act,
            output_format: st
                .output
                .map_or(fb::DType::F32, |e| dtype(e.format.dtype())),
            output_scale: st.output.map_or(1.0, |e| e.scale),
        },
    ))
}

/// Little-endian bytes of int8 or int16 codes (`dtype`, checked by validation).
fn codes(v: &[i16], dtype: DType) -> Vec<u8> {
    match dtype {
        DType::I8 => v.iter().map(|&c| c as i8 as u8).collect(),
        _ => v.iter().flat_map(|c| c.to_le_bytes()).collect(),
    }
}

fn requant(r: &Requant) -> fb::Requant {
    fb::Requant::new(r.multiplier, r.shift)
}

fn command<'a>(b: &mut FlatBufferBuilder<'a>, c: &Command) -> WIPOffset<fb::CommandEntry<'a>> {
    let (kind, off) = match c {
        Command::Conv2d(c) => {
            let name = b.create_string(&c.name);
            let kernel = b.create_vector(&ids(&c.kernel));
            let strides = b.create_vector(&ids(&c.strides));
            let dilations = b.create_vector(&ids(&c.dilations));
            let pads = b.create_vector(&ids(&c.pads));
            let fp8 = fp8_stage(b, c.fp8.as_ref());
            let off = fb::Conv2d::create(
                b,
                &fb::Conv2dArgs {
                    name: Some(name),
                    input: c.input as u32,
                    output: c.output as u32,
                    weights: c.weights as u32,
                    layout: layout(c.layout),
                    kernel: Some(kernel),
                    strides: Some(strides),
                    dilations: Some(dilations),
                    pads: Some(pads),
                    groups: c.groups as u32,
                    stage: Some(&stage(&c.stage)),
                    fp8,
                    transposed: c.transposed,
                },
            );
            (fb::Command::Conv2d, off.as_union_value())
        }
        Command::FullyConnected(c) => {
            let name = b.create_string(&c.name);
            let fp8 = fp8_stage(b, c.fp8.as_ref());
            let off = fb::FullyConnected::create(
                b,
                &fb::FullyConnectedArgs {
                    name: Some(name),
                    input: c.input as u32,
                    output: c.output as u32,
                    weights: c.weights as u32,
                    stage: Some(&stage(&c.stage)),
                    fp8,
                },
            );
            (fb::Command::FullyConnected, off.as_union_value())
        }
        Command::Elementwise(e) => {
            let name = b.create_string(&e.name);
            let none = Requant {
                multiplier: 0,
                shift: 0,
            };
            let enc = encoding(b, e.encode);
            let (is_f32, act) = match e.kind {
                ElementwiseKind::F32 { activation: a, .. } => (true, activation(b, a)),
                _ => (false, None),
            };
            let (op, left_shift, ia, ib, out) = match e.kind {
                ElementwiseKind::AddSub {
                    subtract,
                    left_shift,
                    input_a,
                    input_b,
                    output,
                } => {
                    let op = if subtract {
                        fb::ElementwiseOp::Sub
                    } else {
                        fb::ElementwiseOp::Add
                    };
                    (op, left_shift, input_a, input_b, output)
                }
                ElementwiseKind::Mul { output } => (fb::ElementwiseOp::Mul, 0, none, none, output),
                ElementwiseKind::F32 { op, .. } => {
                    let op = match op {
                        BinaryKind::Add => fb::ElementwiseOp::Add,
                        BinaryKind::Sub => fb::ElementwiseOp::Sub,
                        BinaryKind::Mul => fb::ElementwiseOp::Mul,
                        BinaryKind::Div => fb::ElementwiseOp::Div,
                        BinaryKind::Max => fb::ElementwiseOp::Max,
                        BinaryKind::Min => fb::ElementwiseOp::Min,
                        other => unreachable!("the NPU lowering keeps {other:?} on the CPU"),
                    };
                    (op, 0, none, none, none)
                }
            };
            let off = fb::Elementwise::create(
                b,
                &fb::ElementwiseArgs {
                    name: Some(name),
                    a: e.a as u32,
                    b: e.b as u32,
                    output: e.output as u32,
                    op,
                    left_shift,
                    input_a: Some(&requant(&ia)),
                    input_b: Some(&requant(&ib)),
                    output_requant: Some(&requant(&out)),
                    a_zero_point: e.a_zero_point,
                    b_zero_point: e.b_zero_point,
                    output_zero_point: e.output_zero_point,
                    act_min: e.act_min,
                    act_max: e.act_max,
                    is_f32,
                    activation: act,
                    encode: enc,
                },
            );
            (fb::Command::Elementwise, off.as_union_value())
        }
        Command::Pool(p) => {
            let name = b.create_string(&p.name);
            let kernel = b.create_vector(&ids(&p.kernel));
            let strides = b.create_vector(&ids(&p.strides));
            let pads = b.create_vector(&ids(&p.pads));
            let act = activation(b, p.activation);
            let enc = encoding(b, p.encode);
            let kind = match p.kind {
                PoolKind::Max => fb::PoolKind::Max,
                PoolKind::Avg => fb::PoolKind::Avg,
            };
            let off = fb::Pool::create(
                b,
                &fb::PoolArgs {
                    name: Some(name),
                    input: p.input as u32,
                    output: p.output as u32,
                    kind,
                    layout: layout(p.layout),
                    kernel: Some(kernel),
                    strides: Some(strides),
                    pads: Some(pads),
                    act_min: p.act_min,
                    act_max: p.act_max,
                    activation: act,
                    encode: enc,
                },
            );
            (fb::Command::Pool, off.as_union_value())
        }
        Command::Concat(c) => {
            let name = b.create_string(&c.name);
            let inputs = b.create_vector(&ids(&c.inputs));
            let tables = (!c.tables.is_empty()).then(|| b.create_vector(&c.tables));
            let off = fb::Concat::create(
                b,
                &fb::ConcatArgs {
                    name: Some(name),
                    inputs: Some(inputs),
                    output: c.output as u32,
                    axis: c.axis as u32,
                    tables,
                },
            );
            (fb::Command::Concat, off.as_union_value())
        }
        Command::Reduce(r) => {
            let name = b.create_string(&r.name);
            let axes = b.create_vector(&ids(&r.axes));
            let enc = encoding(b, r.encode);
            let off = fb::Reduce::create(
                b,
                &fb::ReduceArgs {
                    name: Some(name),
                    input: r.input as u32,
                    output: r.output as u32,
                    axes: Some(axes),
                    input_zero_point: r.input_zero_point,
                    output_zero_point: r.output_zero_point,
                    requant: Some(&requant(&r.requant)),
                    act_min: r.act_min,
                    act_max: r.act_max,
                    float_kind: match r.float {
                        None => fb::FloatReduce::None,
                        Some(ReduceKind::Mean) => fb::FloatReduce::Mean,
                        Some(ReduceKind::Sum) => fb::FloatReduce::Sum,
                        Some(ReduceKind::Max) => fb::FloatReduce::Max,
                        Some(ReduceKind::Min) => fb::FloatReduce::Min,
                        // `validate` refuses products before anything is written.
                        Some(ReduceKind::Prod) => fb::FloatReduce::None,
                    },
                    encode: enc,
                },
            );
            (fb::Command::Reduce, off.as_union_value())
        }
        Command::Quantize(q) => {
            let name = b.create_string(&q.name);
            let off = fb::Quantize::create(
                b,
                &fb::QuantizeArgs {
                    name: Some(name),
                    input: q.input as u32,
                    output: q.output as u32,
                    format: dtype(q.encoding.format.dtype()),
                    scale: q.encoding.scale,
                },
            );
            (fb::Command::Quantize, off.as_union_value())
        }
        Command::Activate(a) => {
            let name = b.create_string(&a.name);
            let act = activation(b, Some(a.activation));
            let enc = encoding(b, a.encode);
            let off = fb::Activate::create(
                b,
                &fb::ActivateArgs {
                    name: Some(name),
                    input: a.input as u32,
                    output: a.output as u32,
                    activation: act,
                    encode: enc,
                },
            );
            (fb::Command::Activate, off.as_union_value())
        }
        Command::Pad(pd) => {
            let name = b.create_string(&pd.name);
            let flat: Vec<u32> = pd
                .pads
                .iter()
                .flat_map(|&(bf, af)| [bf as u32, af as u32])
                .collect();
            let pads = b.create_vector(&flat);
            let enc = encoding(b, pd.encode);
            let off = fb::Pad::create(
                b,
                &fb::PadArgs {
                    name: Some(name),
                    input: pd.input as u32,
                    output: pd.output as u32,
                    pads: Some(pads),
                    value: pd.value,
                    encode: enc,
                    fill: pd.fill,
                },
            );
            (fb::Command::Pad, off.as_union_value())
        }
        Command::Lookup(l) => {
            let name = b.create_string(&l.name);
            let table = b.create_vector(&l.table);
            let off = fb::Lookup::create(
                b,
                &fb::LookupArgs {
                    name: Some(name),
                    input: l.input as u32,
                    output: l.output as u32,
                    table: Some(table),
                },
            );
            (fb::Command::Lookup, off.as_union_value())
        }
        Command::PRelu(pr) => {
            let name = b.create_string(&pr.name);
            let alpha = b.create_vector(&pr.alpha);
            let alpha_shape = b.create_vector(&ids(&pr.alpha_shape));
            let off = fb::PRelu::create(
                b,
                &fb::PReluArgs {
                    name: Some(name),
                    input: pr.input as u32,
                    output: pr.output as u32,
                    alpha: Some(alpha),
                    alpha_shape: Some(alpha_shape),
                    input_zero_point: pr.input_zero_point,
                    output_zero_point: pr.output_zero_point,
                    identity: Some(&requant(&pr.identity)),
                    negative: Some(&requant(&pr.negative)),
                    act_min: pr.act_min,
                    act_max: pr.act_max,
                },
            );
            (fb::Command::PRelu, off.as_union_value())
        }
        Command::Resize(r) => {
            let name = b.create_string(&r.name);
            let off = fb::Resize::create(
                b,
                &fb::ResizeArgs {
                    name: Some(name),
                    input: r.input as u32,
                    output: r.output as u32,
                    bilinear: r.bilinear,
                    align_corners: r.align_corners,
                    half_pixel_centers: r.half_pixel_centers,
                },
            );
            (fb::Command::Resize, off.as_union_value())
        }
        Command::Softmax(sm) => {
            let name = b.create_string(&sm.name);
            let off = fb::Softmax::create(
                b,
                &fb::SoftmaxArgs {
                    name: Some(name),
                    input: sm.input as u32,
                    output: sm.output as u32,
                    axis: sm.axis as u32,
                    multiplier: sm.multiplier,
                    left_shift: sm.left_shift,
                },
            );
            (fb::Command::Softmax, off.as_union_value())
        }
        Command::Requantize(r) => {
            let name = b.create_string(&r.name);
            let off = fb::Requantize::create(
                b,
                &fb::RequantizeArgs {
                    name: Some(name),
                    input: r.input as u32,
                    output: r.output as u32,
                    input_zero_point: r.input_zero_point,
                    output_zero_point: r.output_zero_point,
                    requant: Some(&requant(&r.requant)),
                },
            );
            (fb::Command::Requantize, off.as_union_value())
        }
        Command::Svdf(sv) => {
            let name = b.create_string(&sv.name);
            let weights_feature = b.create_vector(&sv.weights_feature);
            let weights_time = b.create_vector(&codes(&sv.weights_time, sv.state_type));
            let state = b.create_vector(&codes(&sv.state, sv.state_type));
            let bias = b.create_vector(&sv.bias);
            let off = fb::Svdf::create(
                b,
                &fb::SvdfArgs {
                    name: Some(name),
                    input: sv.input as u32,
                    output: sv.output as u32,
                    rank: sv.rank as u32,
                    memory: sv.memory as u32,
                    state_type: dtype(sv.state_type),
                    weights_feature: Some(weights_feature),
                    weights_time: Some(weights_time),
                    state: Some(state),
                    bias: Some(bias),
                    input_zero_point: sv.input_zero_point,
                    state_zero_point: sv.state_zero_point,
                    output_zero_point: sv.output_zero_point,
                    feature: Some(&requant(&sv.feature)),
                    time: Some(&requant(&sv.time)),
                },
            );
            (fb::Command::Svdf, off.as_union_value())
        }
        Command::TableSoftmax(sm) => {
            let name = b.create_string(&sm.name);
            let table = b.create_vector(&sm.table);
            let off = fb::TableSoftmax::create(
                b,
                &fb::TableSoftmaxArgs {
                    name: Some(name),
                    input: sm.input as u32,
                    output: sm.output as u32,
                    axis: sm.axis as u32,
                    table: Some(table),
                    output_scale: sm.output_scale,
                    output_zero_point: sm.output_zero_point,
                },
            );
            (fb::Command::TableSoftmax, off.as_union_value())
        }
        Command::Cpu { segment } => {
            let off = fb::Cpu::create(
                b,
                &fb::CpuArgs {
                    segment: *segment as u32,
                },
            );
            (fb::Command::Cpu, off.as_union_value())
        }
    };
    fb::CommandEntry::create(
        b,
        &fb::CommandEntryArgs {
            command_type: kind,
            command: Some(off),
        },
    )
}
