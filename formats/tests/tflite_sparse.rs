//! Sparse TFLite tensors and DENSIFY.
//!
//! Import: hand-built models holding a sparse constant, a DENSIFY of it and an ADD that
//! consumes it, with the sparse encodings and dense matrices of TFLite's own format
//! converter tests (`tensorflow/lite/kernels/internal/utils/sparsity_format_converter_test.cc`:
//! traversal orders, CSR levels, 1-D and 2-D blocks, column-major blocks). Corrupted
//! encodings are refused with errors that name the tensor, never panics.
//!
//! Export: a small graph written with sparse weights reads back to the same constants.

use flatbuffers::FlatBufferBuilder;
use nnopt_compiler::interp::run;
use nnopt_compiler::ir::{verify, DType, GemmAttrs, Graph, Op, QuantParams, Tensor, TensorType};
use nnopt_formats::tflite::schema as fb;
use nnopt_formats::tflite::{
    export_tflite, export_tflite_with, import_tflite_bytes, TfliteExportOptions,
};

/// One traversal level: DENSE with its size, or SPARSE_CSR with its arrays.
#[derive(Clone)]
enum Level {
    Dense(i32),
    Csr(Vec<i32>, Vec<i32>),
}

/// A sparse constant as a file stores it.
#[derive(Clone)]
struct Sparse {
    shape: Vec<i32>,
    order: Vec<i32>,
    block_map: Vec<i32>,
    levels: Vec<Level>,
    values: Vec<f32>,
}

/// How the model reads the sparse constant.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    /// float32, through DENSIFY.
    Densify,
    /// float16, through DENSIFY and DEQUANTIZE (the converter's float16 sparse weights).
    Float16,
    /// float32, read by the ADD directly (as FULLY_CONNECTED reads sparse weights).
    Direct,
}

/// The CSR arrays as the narrowest index vector, or as `Int32Vector` when `wide`.
fn index_vector(
    b: &mut FlatBufferBuilder<'static>,
    v: &[i32],
    wide: bool,
) -> (
    fb::SparseIndexVector,
    flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
) {
    let max = v.iter().copied().max().unwrap_or(0);
    if wide || max > u16::MAX as i32 || v.iter().any(|&x| x < 0) {
        let values = Some(b.create_vector(v));
        let t = fb::Int32Vector::create(b, &fb::Int32VectorArgs { values });
        (fb::SparseIndexVector::Int32Vector, t.as_union_value())
    } else if max > u8::MAX as i32 {
        let v: Vec<u16> = v.iter().map(|&x| x as u16).collect();
        let values = Some(b.create_vector(&v));
        let t = fb::Uint16Vector::create(b, &fb::Uint16VectorArgs { values });
        (fb::SparseIndexVector::Uint16Vector, t.as_union_value())
    } else {
        let v: Vec<u8> = v.iter().map(|&x| x as u8).collect();
        let values = Some(b.create_vector(&v));
        let t = fb::Uint8Vector::create(b, &fb::Uint8VectorArgs { values });
        (fb::SparseIndexVector::Uint8Vector, t.as_union_value())
    }
}

/// A model `y = x + densify(w)` with `w` the sparse constant `s`, `x` and `y` float32.
fn model(s: &Sparse, form: Form, wide: bool) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let levels: Vec<_> = s
        .levels
        .iter()
        .map(|l| match l {
            Level::Dense(n) => fb::DimensionMetadata::create(
                &mut b,
                &fb::DimensionMetadataArgs {
                    format: fb::DimensionType::DENSE,
                    dense_size: *n,
                    ..Default::default()
                },
            ),
            Level::Csr(seg, idx) => {
                let (st, sv) = index_vector(&mut b, seg, wide);
                let (it, iv) = index_vector(&mut b, idx, wide);
                fb::DimensionMetadata::create(
                    &mut b,
                    &fb::DimensionMetadataArgs {
                        format: fb::DimensionType::SPARSE_CSR,
                        dense_size: 0,
                        array_segments_type: st,
                        array_segments: Some(sv),
                        array_indices_type: it,
                        array_indices: Some(iv),
                    },
                )
            }
        })
        .collect();
    let order = b.create_vector(&s.order);
    let block_map = (!s.block_map.is_empty()).then(|| b.create_vector(&s.block_map));
    let levels = b.create_vector(&levels);
    let sparsity = fb::SparsityParameters::create(
        &mut b,
        &fb::SparsityParametersArgs {
            traversal_order: Some(order),
            block_map,
            dim_metadata: Some(levels),
        },
    );
    let f16 = form == Form::Float16;
    let weight_type = if f16 {
        fb::TensorType::FLOAT16
    } else {
        fb::TensorType::FLOAT32
    };
    let bytes: Vec<u8> = if f16 {
        s.values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect()
    } else {
        s.values.iter().flat_map(|v| v.to_le_bytes()).collect()
    };
    let tensor = |b: &mut FlatBufferBuilder<'static>, name: &str, ty, buffer, sparse| {
        let shape = Some(b.create_vector(&s.shape));
        let name = Some(b.create_string(name));
        fb::Tensor::create(
            b,
            &fb::TensorArgs {
                shape,
                type_: ty,
                buffer,
                name,
                sparsity: sparse,
                ..Default::default()
            },
        )
    };
    let f32_ = fb::TensorType::FLOAT32;
    let tensors = [
        tensor(&mut b, "x", f32_, 0, None),
        tensor(&mut b, "w", weight_type, 1, Some(sparsity)),
        tensor(&mut b, "w_dense", weight_type, 0, None),
        tensor(&mut b, "y", f32_, 0, None),
        tensor(&mut b, "w_f32", f32_, 0, None),
    ];
    let tensors = b.create_vector(&tensors);
    let mut ops = vec![];
    let mut op = |b: &mut FlatBufferBuilder<'static>, code: u32, ins: &[i32], out: i32| {
        let inputs = Some(b.create_vector(ins));
        let outputs = Some(b.create_vector(&[out]));
        let add = (code == 1)
            .then(|| fb::AddOptions::create(b, &fb::AddOptionsArgs::default()).as_union_value());
        ops.push(fb::Operator::create(
            b,
            &fb::OperatorArgs {
                opcode_index: code,
                inputs,
                outputs,
                builtin_options_type: if add.is_some() {
                    fb::BuiltinOptions::AddOptions
                } else {
                    fb::BuiltinOptions::NONE
                },
                builtin_options: add,
                ..Default::default()
            },
        ));
    };
    match form {
        Form::Densify => {
            op(&mut b, 0, &[1], 2);
            op(&mut b, 1, &[0, 2], 3);
        }
        Form::Float16 => {
            op(&mut b, 0, &[1], 2);
            op(&mut b, 2, &[2], 4);
            op(&mut b, 1, &[0, 4], 3);
        }
        Form::Direct => op(&mut b, 1, &[0, 1], 3),
    }
    let ops = b.create_vector(&ops);
    let (inputs, outputs) = (b.create_vector(&[0]), b.create_vector(&[3]));
    let subgraph = fb::SubGraph::create(
        &mut b,
        &fb::SubGraphArgs {
            tensors: Some(tensors),
            inputs: Some(inputs),
            outputs: Some(outputs),
            operators: Some(ops),
            ..Default::default()
        },
    );
    let codes: Vec<_> = [
        fb::BuiltinOperator::DENSIFY,
        fb::BuiltinOperator::ADD,
        fb::BuiltinOperator::DEQUANTIZE,
    ]
    .iter()
    .map(|&code| {
        fb::OperatorCode::create(
            &mut b,
            &fb::OperatorCodeArgs {
                deprecated_builtin_code: code.0.min(127) as i8,
                custom_code: None,
                version: 1,
                builtin_code: code,
            },
        )
    })
    .collect();
    let codes = b.create_vector(&codes);
    let data = b.create_vector(&bytes);
    let buffers = [
        fb::Buffer::create(&mut b, &fb::BufferArgs::default()),
        fb::Buffer::create(
            &mut b,
            &fb::BufferArgs {
                data: Some(data),
                ..Default::default()
            },
        ),
    ];
    let buffers = b.create_vector(&buffers);
    let subgraphs = b.create_vector(&[subgraph]);
    let m = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: 3,
            operator_codes: Some(codes),
            subgraphs: Some(subgraphs),
            buffers: Some(buffers),
            ..Default::default()
        },
    );
    fb::finish_model_buffer(&mut b, m);
    b.finished_data().to_vec()
}

/// The constant added to `x` in an imported `y = x + w` model.
fn added_constant(g: &Graph) -> Tensor {
    let add = g
        .node_indices()
        .into_iter()
        .find(|&n| matches!(g.node(n).op, Op::Binary { .. }))
        .expect("an add");
    let w = g.node_inputs(add)[1];
    g.const_value(w).expect("a constant").clone()
}

/// Imports `s` in every form (and with 32-bit index vectors) and checks that the constant
/// is `dense`.
fn check(case: &str, s: &Sparse, dense: &[f32]) {
    for (form, wide) in [
        (Form::Densify, false),
        (Form::Densify, true),
        (Form::Float16, false),
        (Form::Direct, false),
    ] {
        let g = import_tflite_bytes(&model(s, form, wide), case)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let shape: Vec<usize> = s.shape.iter().map(|&d| d as usize).collect();
        let want = Tensor::from_f64s(
            DType::F32,
            &shape,
            &dense.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        )
        .expect("dense tensor");
        assert_eq!(added_constant(&g), want, "{case}");
    }
}

fn csr(segments: &[i32], indices: &[i32]) -> Level {
    Level::Csr(segments.to_vec(), indices.to_vec())
}

/// The 3x4 matrix of the converter's 2-D tests.
const MATRIX_3X4: [f32; 12] = [6., 0., 9., 8., 0., 0., 0., 0., 5., 0., 0., 7.];
/// The 4x4 matrix of its block tests.
const MATRIX_4X4: [f32; 16] = [
    1., 0., 2., 3., 0., 4., 0., 0., 0., 0., 5., 0., 0., 0., 0., 6.,
];

fn d0s1() -> Sparse {
    Sparse {
        shape: vec![3, 4],
        order: vec![0, 1],
        block_map: vec![],
        levels: vec![Level::Dense(3), csr(&[0, 3, 3, 5], &[0, 2, 3, 0, 3])],
        values: vec![6., 9., 8., 5., 7.],
    }
}

#[test]
fn converter_test_cases_import_to_their_dense_matrices() {
    check("SimpleTestD0S1", &d0s1(), &MATRIX_3X4);
    let s0s1 = Sparse {
        levels: vec![csr(&[0, 2], &[0, 2]), csr(&[0, 3, 5], &[0, 2, 3, 0, 3])],
        ..d0s1()
    };
    check("SimpleTestS0S1", &s0s1, &MATRIX_3X4);
    // Traversal order (1, 0): column by column.
    let s1d0 = Sparse {
        order: vec![1, 0],
        levels: vec![csr(&[0, 3], &[0, 2, 3]), Level::Dense(3)],
        values: vec![6., 0., 5., 9., 0., 0., 8., 0., 7.],
        ..d0s1()
    };
    check("SimpleTestS1D0", &s1d0, &MATRIX_3X4);
    let d1s0 = Sparse {
        order: vec![1, 0],
        levels: vec![Level::Dense(4), csr(&[0, 2, 2, 3, 5], &[0, 2, 0, 0, 2])],
        values: vec![6., 5., 9., 8., 7.],
        ..d0s1()
    };
    check("SimpleTestD1S0", &d1s0, &MATRIX_3X4);
    let s0s2s1 = Sparse {
        shape: vec![3, 2, 4],
        order: vec![0, 2, 1],
        block_map: vec![],
        levels: vec![
            csr(&[0, 2], &[0, 2]),
            csr(&[0, 2, 5], &[0, 2, 0, 2, 3]),
            csr(&[0, 2, 3, 4, 6, 8], &[0, 1, 1, 1, 0, 1, 0, 1]),
        ],
        values: vec![1., 7., 5., 2., 4., 8., 3., 9.],
    };
    let dense = [
        1., 0., 0., 0., 7., 0., 5., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 4., 3., 2., 0., 8.,
        9.,
    ];
    check("3DTestS0S2S1", &s0s2s1, &dense);
}

#[test]
fn converter_block_test_cases_import_to_their_dense_matrices() {
    // BCSR with 1x2 blocks: dimension 1 split into blocks of 2.
    let d0s1_1d = Sparse {
        shape: vec![4, 4],
        order: vec![0, 1, 2],
        block_map: vec![1],
        levels: vec![
            Level::Dense(4),
            csr(&[0, 2, 3, 4, 5], &[0, 1, 0, 1, 1]),
            Level::Dense(2),
        ],
        values: vec![1., 0., 2., 3., 0., 4., 5., 0., 0., 6.],
    };
    check("BlockTestD0S11DBlock", &d0s1_1d, &MATRIX_4X4);
    // BCSR with 2x2 blocks.
    let d0s1_2d = Sparse {
        shape: vec![4, 4],
        order: vec![0, 1, 2, 3],
        block_map: vec![0, 1],
        levels: vec![
            Level::Dense(2),
            csr(&[0, 2, 3], &[0, 1, 1]),
            Level::Dense(2),
            Level::Dense(2),
        ],
        values: vec![1., 0., 0., 4., 2., 3., 0., 0., 5., 0., 0., 6.],
    };
    check("BlockTestD0S12DBlock", &d0s1_2d, &MATRIX_4X4);
    // BCSC: blocks traversed column by column, and inside each block too.
    let bcsc = Sparse {
        order: vec![1, 0, 3, 2],
        levels: vec![
            Level::Dense(2),
            csr(&[0, 1, 3], &[0, 0, 1]),
            Level::Dense(2),
            Level::Dense(2),
        ],
        values: vec![1., 0., 0., 4., 2., 0., 3., 0., 5., 0., 0., 6.],
        ..d0s1_2d.clone()
    };
    check("BlockTestD1S0", &bcsc, &MATRIX_4X4);
    // The last row of blocks empty.
    let last_empty = Sparse {
        levels: vec![
            Level::Dense(2),
            csr(&[0, 2, 2], &[0, 1]),
            Level::Dense(2),
            Level::Dense(2),
        ],
        values: vec![1., 0., 0., 4., 2., 3., 0., 0.],
        ..d0s1_2d.clone()
    };
    let mut dense = [0.0; 16];
    dense[..8].copy_from_slice(&MATRIX_4X4[..8]);
    check("BlockTestD0S1LastBlockEmpty", &last_empty, &dense);
    // Row-major blocks of a 4x8 matrix, each block stored column-major.
    let col_major = Sparse {
        shape: vec![4, 8],
        order: vec![0, 1, 3, 2],
        block_map: vec![0, 1],
        levels: vec![
            Level::Dense(2),
            csr(&[0, 3, 4], &[0, 1, 2, 1]),
            Level::Dense(2),
            Level::Dense(2),
        ],
        values: vec![
            1., 1., 0., 0., 2., 2., 3., 3., 0., 0., 4., 4., 5., 0., 0., 0.,
        ],
    };
    let dense = [
        1., 0., 2., 3., 0., 4., 0., 0., 1., 0., 2., 3., 0., 4., 0., 0., 0., 0., 5., 0., 0., 0., 0.,
        0., 0., 0., 0., 0., 0., 0., 0., 0.,
    ];
    check("BlockTestD0S1ColMajorBlock", &col_major, &dense);
}

#[test]
fn an_all_zero_sparse_constant_stores_no_values() {
    let s = Sparse {
        levels: vec![Level::Dense(3), csr(&[0, 0, 0, 0], &[])],
        values: vec![],
        ..d0s1()
    };
    check("all zero", &s, &[0.0; 12]);
}

/// Imports `s` and returns its error, failing the test if it imports.
fn refused(s: &Sparse) -> String {
    match import_tflite_bytes(&model(s, Form::Densify, false), "hostile") {
        Ok(_) => panic!("a corrupted sparse tensor imported"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn corrupted_sparse_tensors_are_refused() {
    let with_level = |k: usize, l: Level| {
        let mut s = d0s1();
        s.levels[k] = l;
        s
    };
    let cases = [
        (
            "index out of range",
            with_level(1, csr(&[0, 3, 3, 5], &[0, 2, 4, 0, 3])),
            "index 4 out of range",
        ),
        (
            "segments decrease",
            with_level(1, csr(&[0, 3, 2, 5], &[0, 2, 3, 0, 3])),
            "segments decrease",
        ),
        (
            "segments past the indices",
            with_level(1, csr(&[0, 9, 3, 5], &[0, 2, 3, 0, 3])),
            "segments decrease",
        ),
        (
            "too few segments",
            with_level(1, csr(&[0, 3, 5], &[0, 2, 3, 0, 3])),
            "3 segment entries",
        ),
        (
            "segments end early",
            with_level(1, csr(&[0, 3, 3, 4], &[0, 2, 3, 0, 3])),
            "must run from 0",
        ),
        (
            "indices not increasing",
            with_level(1, csr(&[0, 3, 3, 5], &[0, 3, 2, 0, 3])),
            "not increasing",
        ),
        (
            "negative index",
            with_level(1, csr(&[0, 3, 3, 5], &[0, 2, -3, 0, 3])),
            "negative indices entry -3",
        ),
        (
            "dense size mismatch",
            with_level(0, Level::Dense(4)),
            "DENSE of size 4",
        ),
        (
            "values missing",
            Sparse {
                values: vec![6., 9., 8., 5.],
                ..d0s1()
            },
            "the sparsity parameters store 5 values",
        ),
        (
            "traversal order repeats",
            Sparse {
                order: vec![0, 0],
                ..d0s1()
            },
            "not a permutation",
        ),
        (
            "too few levels",
            Sparse {
                levels: vec![Level::Dense(3)],
                ..d0s1()
            },
            "need 2 traversal levels",
        ),
        (
            "block size does not divide",
            Sparse {
                shape: vec![3, 4],
                order: vec![0, 1, 2],
                block_map: vec![0],
                levels: vec![Level::Dense(1), Level::Dense(4), Level::Dense(2)],
                values: vec![0.; 12],
            },
            "dividing dimension 0",
        ),
        (
            "block map out of range",
            Sparse {
                order: vec![0, 1, 2],
                block_map: vec![5],
                levels: vec![Level::Dense(3), Level::Dense(4), Level::Dense(1)],
                values: vec![0.; 12],
                ..d0s1()
            },
            "block map [5]",
        ),
        (
            "huge dense shape",
            Sparse {
                shape: vec![1 << 14, 1 << 14],
                levels: vec![Level::Dense(1 << 14), Level::Dense(1 << 14)],
                values: vec![],
                ..d0s1()
            },
            "expands to more than",
        ),
        (
            "huge dimensions beside a zero one",
            Sparse {
                shape: vec![0, 1 << 30, 1 << 30],
                order: vec![0, 1, 2],
                levels: vec![
                    Level::Dense(0),
                    Level::Dense(1 << 30),
                    Level::Dense(1 << 30),
                ],
                values: vec![],
                ..d0s1()
            },
            "expands to more than",
        ),
    ];
    for (what, s, reason) in cases {
        let e = refused(&s);
        assert!(
            e.contains("sparse tensor 'w'") && e.contains(reason),
            "{what}: {e}"
        );
    }
}

#[test]
fn bit_flipped_sparse_models_never_panic() {
    // Every single-bit flip of two sparse models either imports or gives an error.
    for s in [d0s1(), {
        let mut s = d0s1();
        s.levels[0] = csr(&[0, 2], &[0, 2]);
        s.levels[1] = csr(&[0, 3, 5], &[0, 2, 3, 0, 3]);
        s
    }] {
        let bytes = model(&s, Form::Densify, false);
        for bit in 0..bytes.len() * 8 {
            let mut m = bytes.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            let r = std::panic::catch_unwind(|| import_tflite_bytes(&m, "flipped").is_ok());
            assert!(r.is_ok(), "bit {bit} panicked");
        }
    }
}

/// `x [1, k] @ w^T` for an int8 and a float32 fully connected layer with weights `[n, k]`
/// that are mostly zero (and a float -0.0, which must come back as -0.0).
fn sparse_fc_graph() -> Graph {
    let mut g = Graph::new("sparse_fc");
    let (n, k) = (20, 300);
    let w: Vec<f64> = (0..n * k)
        .map(|i| match i % 7 {
            0 => (i % 23) as f64 - 11.0,
            3 => -0.0,
            _ => 0.0,
        })
        .collect();
    let x = g.add_input("x", TensorType::new(DType::F32, [1, k]));
    let wf = g.add_const(
        "wf",
        Tensor::from_f64s(DType::F32, &[n, k], &w).expect("weights"),
        None,
    );
    let y = g.add_op(
        "fc_f32",
        Op::Gemm(GemmAttrs::fully_connected(true, None)),
        &[x, wf],
        TensorType::new(DType::F32, [1, n]),
    );
    let q = |s: f32| Some(QuantParams::per_tensor(s, 0));
    let xq = g.add_op(
        "xq",
        Op::Quantize {
            to: DType::I8,
            rounding: nnopt_compiler::ir::QuantizeRounding::Tflite,
            saturate: true,
        },
        &[x],
        TensorType::new(DType::I8, [1, k]).with_quant(q(0.05)),
    );
    let wq = g.add_const(
        "wq",
        Tensor::from_f64s(DType::I8, &[n, k], &w).expect("weights"),
        Some(QuantParams {
            scale: (0..n).map(|c| 0.01 + c as f32 * 1e-3).collect(),
            zero_point: vec![0; n],
            axis: Some(0),
        }),
    );
    let yq = g.add_op(
        "fc_i8",
        Op::Gemm(GemmAttrs::fully_connected(true, None)),
        &[xq, wq],
        TensorType::new(DType::I8, [1, n]).with_quant(q(0.2)),
    );
    g.set_outputs(vec![y, yq]);
    verify(&g).expect("test graph verifies");
    g
}

#[test]
fn sparse_weights_export_and_read_back_to_the_same_constants() {
    let g = sparse_fc_graph();
    let dense = export_tflite(&g).expect("dense export");
    let options = TfliteExportOptions {
        sparse_weights: true,
    };
    let sparse = export_tflite_with(&g, &options).expect("sparse export");
    assert!(
        sparse.len() < dense.len() / 2,
        "{} vs {}",
        sparse.len(),
        dense.len()
    );
    let model = fb::root_as_model(&sparse).expect("valid flatbuffer");
    let sg = model.subgraphs().expect("subgraphs").get(0);
    let sparse_tensors = sg
        .tensors()
        .expect("tensors")
        .iter()
        .filter(|t| t.sparsity().is_some())
        .count();
    assert_eq!(sparse_tensors, 2);
    let back = import_tflite_bytes(&sparse, "back").expect("re-import");
    let consts = |g: &Graph| -> Vec<Tensor> {
        g.node_indices()
            .into_iter()
            .filter(|&n| matches!(g.node(n).op, Op::Gemm(_)))
            .map(|n| {
                g.const_value(g.node_inputs(n)[1])
                    .expect("constant")
                    .clone()
            })
            .collect()
    };
    let want = consts(&g);
    let got = consts(&back);
    assert_eq!(got, want);
    // -0.0 == 0.0, so compare the float weights' bits too.
    let bits = |t: &Tensor| -> Vec<u32> {
        t.as_f32()
            .expect("f32")
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert_eq!(bits(&got[0]), bits(&want[0]));
    let x = Tensor::from_f64s(
        DType::F32,
        &[1, 300],
        &(0..300)
            .map(|i| (i % 13) as f64 / 7.0 - 0.9)
            .collect::<Vec<_>>(),
    )
    .expect("input");
    assert_eq!(
        run(&back, std::slice::from_ref(&x)).expect("runs"),
        run(&g, &[x]).expect("runs")
    );
}
