//! [`ModelDef`] to flatbuffer bytes with the flatc-generated TFLite schema: buffer 0 is the
//! empty buffer (as the converter writes), constants get one buffer each. A DENSIFY output
//! shares its sparse input's shape and quantization tables (flatbuffers may point twice at
//! one table), so that per-channel parameters are stored once.

use super::model::{quant_dimension, Csr, EmptyOptions, ModelDef, Options};
use crate::tflite::schema as fb;
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use nnopt_compiler::ir::DType;
use std::collections::HashMap;

/// The TFLite schema version written.
pub const SCHEMA_VERSION: u32 = 3;

/// Serializes the model (one subgraph named `name`).
pub fn serialize(m: &ModelDef, name: &str) -> Vec<u8> {
    let mut b = FlatBufferBuilder::with_capacity(1 << 16);
    let mut buffers = vec![fb::Buffer::create(&mut b, &fb::BufferArgs::default())];
    let mut tensors = Vec::with_capacity(m.tensors.len());
    let densified: HashMap<i32, i32> = m
        .operators
        .iter()
        .filter(|op| op.code == fb::BuiltinOperator::DENSIFY)
        .map(|op| (op.outputs[0], op.inputs[0]))
        .collect();
    let mut shared = HashMap::new();
    for (i, t) in m.tensors.iter().enumerate() {
        let buffer = match &t.data {
            Some(d) => {
                let data = b.create_vector(d);
                buffers.push(fb::Buffer::create(
                    &mut b,
                    &fb::BufferArgs {
                        data: Some(data),
                        ..Default::default()
                    },
                ));
                (buffers.len() - 1) as u32
            }
            None => 0,
        };
        let reuse = densified
            .get(&(i as i32))
            .and_then(|source| shared.get(source))
            .copied();
        let shape = match reuse {
            Some((shape, _)) => shape,
            None => {
                let shape: Vec<i32> = t.ty.shape.iter().map(|&d| d as i32).collect();
                b.create_vector(&shape)
            }
        };
        let tname = b.create_string(&t.name);
        let quantization = match reuse {
            Some((_, quantization)) => quantization,
            None => t.ty.quant.as_ref().map(|q| {
                let scale = b.create_vector(&q.scale);
                let zp = b.create_vector(&q.zero_point);
                fb::QuantizationParameters::create(
                    &mut b,
                    &fb::QuantizationParametersArgs {
                        scale: Some(scale),
                        zero_point: Some(zp),
                        quantized_dimension: quant_dimension(q),
                        ..Default::default()
                    },
                )
            }),
        };
        let sparsity = t.sparsity.as_ref().map(|csr| {
            shared.insert(i as i32, (shape, quantization));
            sparsity(&mut b, csr, &t.ty.shape)
        });
        tensors.push(fb::Tensor::create(
            &mut b,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: tensor_type(t.ty.dtype),
                buffer,
                name: Some(tname),
                quantization,
                sparsity,
                ..Default::default()
            },
        ));
    }
    let codes = m.opcodes();
    let mut operators = Vec::with_capacity(m.operators.len());
    for op in &m.operators {
        let inputs = b.create_vector(&op.inputs);
        let outputs = b.create_vector(&op.outputs);
        let (options_type, options) = options(&mut b, &op.options);
        let opcode_index = codes
            .iter()
            .position(|(c, _)| *c == op.code)
            .expect("opcode table lists every operator's code") as u32;
        operators.push(fb::Operator::create(
            &mut b,
            &fb::OperatorArgs {
                opcode_index,
                inputs: Some(inputs),
                outputs: Some(outputs),
                builtin_options_type: options_type,
                builtin_options: options,
                ..Default::default()
            },
        ));
    }
    let tensors = b.create_vector(&tensors);
    let operators = b.create_vector(&operators);
    let inputs = b.create_vector(&m.inputs);
    let outputs = b.create_vector(&m.outputs);
    let sg_name = b.create_string(name);
    let subgraph = fb::SubGraph::create(
        &mut b,
        &fb::SubGraphArgs {
            tensors: Some(tensors),
            inputs: Some(inputs),
            outputs: Some(outputs),
            operators: Some(operators),
            name: Some(sg_name),
            ..Default::default()
        },
    );
    let opcodes: Vec<_> = codes
        .iter()
        .map(|&(code, version)| {
            fb::OperatorCode::create(
                &mut b,
                &fb::OperatorCodeArgs {
                    // Schema 3a: codes below 127 are also written to the deprecated field.
                    deprecated_builtin_code: code.0.min(127) as i8,
                    custom_code: None,
                    version,
                    builtin_code: code,
                },
            )
        })
        .collect();
    let opcodes = b.create_vector(&opcodes);
    let subgraphs = b.create_vector(&[subgraph]);
    let buffers = b.create_vector(&buffers);
    let description = b.create_string("nnopt");
    let model = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: SCHEMA_VERSION,
            operator_codes: Some(opcodes),
            subgraphs: Some(subgraphs),
            description: Some(description),
            buffers: Some(buffers),
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut b, model);
    b.finished_data().to_vec()
}

/// The sparsity parameters of a [`Csr`] constant of `shape`: identity traversal order, the
/// leading dimensions DENSE, the last SPARSE_CSR.
fn sparsity<'a>(
    b: &mut FlatBufferBuilder<'a>,
    csr: &Csr,
    shape: &[usize],
) -> WIPOffset<fb::SparsityParameters<'a>> {
    let rank = shape.len();
    let mut levels: Vec<_> = shape[..rank - 1]
        .iter()
        .map(|&d| {
            fb::DimensionMetadata::create(
                b,
                &fb::DimensionMetadataArgs {
                    format: fb::DimensionType::DENSE,
                    dense_size: d as i32,
                    ..Default::default()
                },
            )
        })
        .collect();
    let (segments_type, segments) = index_vector(b, &csr.segments);
    let (indices_type, indices) = index_vector(b, &csr.indices);
    levels.push(fb::DimensionMetadata::create(
        b,
        &fb::DimensionMetadataArgs {
            format: fb::DimensionType::SPARSE_CSR,
            dense_size: 0,
            array_segments_type: segments_type,
            array_segments: Some(segments),
            array_indices_type: indices_type,
            array_indices: Some(indices),
        },
    ));
    let order: Vec<i32> = (0..rank as i32).collect();
    let order = b.create_vector(&order);
    let levels = b.create_vector(&levels);
    fb::SparsityParameters::create(
        b,
        &fb::SparsityParametersArgs {
            traversal_order: Some(order),
            block_map: None,
            dim_metadata: Some(levels),
        },
    )
}

/// `v` as the narrowest of TFLite's index vectors that holds its largest entry.
fn index_vector(b: &mut FlatBufferBuilder<'_>, v: &[u32]) -> (fb::SparseIndexVector, UnionOffset) {
    let max = v.iter().copied().max().unwrap_or(0);
    if max <= u8::MAX as u32 {
        let values: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        let values = Some(b.create_vector(&values));
        let t = fb::Uint8Vector::create(b, &fb::Uint8VectorArgs { values });
        (fb::SparseIndexVector::Uint8Vector, t.as_union_value())
    } else if max <= u16::MAX as u32 {
        let values: Vec<u16> = v.iter().map(|&x| x as u16).collect();
        let values = Some(b.create_vector(&values));
        let t = fb::Uint16Vector::create(b, &fb::Uint16VectorArgs { values });
        (fb::SparseIndexVector::Uint16Vector, t.as_union_value())
    } else {
        let values: Vec<i32> = v.iter().map(|&x| x as i32).collect();
        let values = Some(b.create_vector(&values));
        let t = fb::Int32Vector::create(b, &fb::Int32VectorArgs { values });
        (fb::SparseIndexVector::Int32Vector, t.as_union_value())
    }
}

fn tensor_type(d: DType) -> fb::TensorType {
    match d {
        DType::F32 => fb::TensorType::FLOAT32,
        DType::I8 => fb::TensorType::INT8,
        DType::U8 => fb::TensorType::UINT8,
        DType::I16 => fb::TensorType::INT16,
        DType::I32 => fb::TensorType::INT32,
        DType::I64 => fb::TensorType::INT64,
        DType::Bool => fb::TensorType::BOOL,
        DType::F16 => fb::TensorType::FLOAT16,
        DType::F64 => fb::TensorType::FLOAT64,
        DType::U16 => fb::TensorType::UINT16,
        DType::U32 => fb::TensorType::UINT32,
        DType::U64 => fb::TensorType::UINT64,
        // The lowering rejects the other types (FP8, FP4, bfloat16, sub-byte integers).
        _ => unreachable!("the lowering rejects {d} tensors"),
    }
}

type UnionOffset = WIPOffset<UnionWIPOffset>;
type Union = Option<UnionOffset>;

fn options(b: &mut FlatBufferBuilder<'_>, o: &Options) -> (fb::BuiltinOptions, Union) {
    use fb::BuiltinOptions as T;
    macro_rules! table {
        ($t:expr, $ty:ident, $args:expr) => {
            ($t, Some(fb::$ty::create(b, $args).as_union_value()))
        };
    }
    match o {
        Options::None => (T::NONE, None),
        Options::Conv2D(a) => table!(T::Conv2DOptions, Conv2DOptions, a),
        Options::DepthwiseConv2D(a) => {
            table!(T::DepthwiseConv2DOptions, DepthwiseConv2DOptions, a)
        }
        Options::FullyConnected(a) => table!(T::FullyConnectedOptions, FullyConnectedOptions, a),
        Options::Pool2D(a) => table!(T::Pool2DOptions, Pool2DOptions, a),
        Options::Add(act) => table!(
            T::AddOptions,
            AddOptions,
            &fb::AddOptionsArgs {
                fused_activation_function: *act,
                ..Default::default()
            }
        ),
        Options::Sub(act) => table!(
            T::SubOptions,
            SubOptions,
            &fb::SubOptionsArgs {
                fused_activation_function: *act,
                ..Default::default()
            }
        ),
        Options::Mul(act) => table!(
            T::MulOptions,
            MulOptions,
            &fb::MulOptionsArgs {
                fused_activation_function: *act
            }
        ),
        Options::Div(act) => table!(
            T::DivOptions,
            DivOptions,
            &fb::DivOptionsArgs {
                fused_activation_function: *act
            }
        ),
        Options::Reducer { keep_dims } => table!(
            T::ReducerOptions,
            ReducerOptions,
            &fb::ReducerOptionsArgs {
                keep_dims: *keep_dims
            }
        ),
        Options::Softmax { beta } => table!(
            T::SoftmaxOptions,
            SoftmaxOptions,
            &fb::SoftmaxOptionsArgs { beta: *beta }
        ),
        Options::Concatenation { axis, activation } => table!(
            T::ConcatenationOptions,
            ConcatenationOptions,
            &fb::ConcatenationOptionsArgs {
                axis: *axis,
                fused_activation_function: *activation
            }
        ),
        Options::Reshape { new_shape } => {
            let v = b.create_vector(new_shape);
            table!(
                T::ReshapeOptions,
                ReshapeOptions,
                &fb::ReshapeOptionsArgs { new_shape: Some(v) }
            )
        }
        Options::ResizeBilinear {
            align_corners,
            half_pixel_centers,
        } => table!(
            T::ResizeBilinearOptions,
            ResizeBilinearOptions,
            &fb::ResizeBilinearOptionsArgs {
                align_corners: *align_corners,
                half_pixel_centers: *half_pixel_centers
            }
        ),
        Options::ResizeNearest {
            align_corners,
            half_pixel_centers,
        } => table!(
            T::ResizeNearestNeighborOptions,
            ResizeNearestNeighborOptions,
            &fb::ResizeNearestNeighborOptionsArgs {
                align_corners: *align_corners,
                half_pixel_centers: *half_pixel_centers
            }
        ),
        Options::LeakyRelu { alpha } => table!(
            T::LeakyReluOptions,
            LeakyReluOptions,
            &fb::LeakyReluOptionsArgs { alpha: *alpha }
        ),
        Options::Gather { axis } => table!(
            T::GatherOptions,
            GatherOptions,
            &fb::GatherOptionsArgs {
                axis: *axis,
                batch_dims: 0
            }
        ),
        Options::SplitV { num_splits } => table!(
            T::SplitVOptions,
            SplitVOptions,
            &fb::SplitVOptionsArgs {
                num_splits: *num_splits
            }
        ),
        Options::StridedSlice {
            begin_mask,
            end_mask,
        } => table!(
            T::StridedSliceOptions,
            StridedSliceOptions,
            &fb::StridedSliceOptionsArgs {
                begin_mask: *begin_mask,
                end_mask: *end_mask,
                ..Default::default()
            }
        ),
        Options::DepthToSpace { block_size } => table!(
            T::DepthToSpaceOptions,
            DepthToSpaceOptions,
            &fb::DepthToSpaceOptionsArgs {
                block_size: *block_size
            }
        ),
        Options::BatchMatMul { adj_x, adj_y } => table!(
            T::BatchMatMulOptions,
            BatchMatMulOptions,
            &fb::BatchMatMulOptionsArgs {
                adj_x: *adj_x,
                adj_y: *adj_y,
                ..Default::default()
            }
        ),
        Options::ArgMax { output_type } => table!(
            T::ArgMaxOptions,
            ArgMaxOptions,
            &fb::ArgMaxOptionsArgs {
                output_type: *output_type
            }
        ),
        Options::ArgMin { output_type } => table!(
            T::ArgMinOptions,
            ArgMinOptions,
            &fb::ArgMinOptionsArgs {
                output_type: *output_type
            }
        ),
        Options::Cumsum { exclusive, reverse } => table!(
            T::CumsumOptions,
            CumsumOptions,
            &fb::CumsumOptionsArgs {
                exclusive: *exclusive,
                reverse: *reverse
            }
        ),
        Options::Gelu { approximate } => table!(
            T::GeluOptions,
            GeluOptions,
            &fb::GeluOptionsArgs {
                approximate: *approximate
            }
        ),
        Options::Empty(e) => empty(b, *e),
    }
}

fn empty(b: &mut FlatBufferBuilder<'_>, e: EmptyOptions) -> (fb::BuiltinOptions, Union) {
    use fb::BuiltinOptions as T;
    macro_rules! table {
        ($t:expr, $ty:ident, $args:ident) => {
            (
                $t,
                Some(fb::$ty::create(b, &fb::$args::default()).as_union_value()),
            )
        };
    }
    match e {
        EmptyOptions::Transpose => {
            table!(T::TransposeOptions, TransposeOptions, TransposeOptionsArgs)
        }
        EmptyOptions::Pad => table!(T::PadOptions, PadOptions, PadOptionsArgs),
        EmptyOptions::PadV2 => table!(T::PadV2Options, PadV2Options, PadV2OptionsArgs),
        EmptyOptions::Quantize => table!(T::QuantizeOptions, QuantizeOptions, QuantizeOptionsArgs),
        EmptyOptions::Dequantize => {
            table!(
                T::DequantizeOptions,
                DequantizeOptions,
                DequantizeOptionsArgs
            )
        }
        EmptyOptions::Cast => table!(T::CastOptions, CastOptions, CastOptionsArgs),
        EmptyOptions::GatherNd => {
            table!(T::GatherNdOptions, GatherNdOptions, GatherNdOptionsArgs)
        }
        EmptyOptions::Maximum => {
            table!(
                T::MaximumMinimumOptions,
                MaximumMinimumOptions,
                MaximumMinimumOptionsArgs
            )
        }
        EmptyOptions::LogSoftmax => {
            table!(
                T::LogSoftmaxOptions,
                LogSoftmaxOptions,
                LogSoftmaxOptionsArgs
            )
        }
        EmptyOptions::HardSwish => {
            table!(T::HardSwishOptions, HardSwishOptions, HardSwishOptionsArgs)
        }
        EmptyOptions::Densify => table!(T::DensifyOptions, DensifyOptions, DensifyOptionsArgs),
        EmptyOptions::Exp => table!(T::ExpOptions, ExpOptions, ExpOptionsArgs),
        EmptyOptions::SquaredDifference => table!(
            T::SquaredDifferenceOptions,
            SquaredDifferenceOptions,
            SquaredDifferenceOptionsArgs
        ),
    }
}
