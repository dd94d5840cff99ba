//! ONNX importer tests on small models built in Rust, plus robustness against truncated
//! and corrupted files.

mod common;

use nnopt_compiler::ir::text::{print_graph, PrintOptions};
use nnopt_compiler::ir::{verify, Graph};
use nnopt_formats::onnx::import_onnx_bytes;
use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;

const F: DataType = DataType::Float;

fn vi(name: &str, elem: DataType, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            denotation: String::new(),
            value: Some(if d < 0 {
                Value::DimParam("N".into())
            } else {
                Value::DimValue(d)
            }),
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        ..Default::default()
    }
}

fn out(name: &str) -> pb::ValueInfoProto {
    pb::ValueInfoProto {
        name: name.into(),
        ..Default::default()
    }
}

enum A {
    I(i64),
    F(f32),
    Is(Vec<i64>),
    S(&'static str),
    T(Box<pb::TensorProto>),
}

fn node(op: &str, name: &str, ins: &[&str], outs: &[&str], attrs: Vec<(&str, A)>) -> pb::NodeProto {
    let attribute = attrs
        .into_iter()
        .map(|(n, a)| {
            let mut p = pb::AttributeProto {
                name: n.into(),
                ..Default::default()
            };
            match a {
                A::I(i) => (p.r#type, p.i) = (AttributeType::Int as i32, i),
                A::F(f) => (p.r#type, p.f) = (AttributeType::Float as i32, f),
                A::Is(v) => (p.r#type, p.ints) = (AttributeType::Ints as i32, v),
                A::S(s) => (p.r#type, p.s) = (AttributeType::String as i32, s.as_bytes().to_vec()),
                A::T(t) => (p.r#type, p.t) = (AttributeType::Tensor as i32, Some(*t)),
            }
            p
        })
        .collect();
    pb::NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: outs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

fn tensor_f32(name: &str, dims: &[i64], data: Vec<f32>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: F as i32,
        float_data: data,
        ..Default::default()
    }
}

fn tensor_i64(name: &str, dims: &[i64], data: Vec<i64>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        int64_data: data,
        ..Default::default()
    }
}

/// A tensor stored as raw little-endian bytes.
fn raw(name: &str, dt: DataType, dims: &[i64], bytes: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: dt as i32,
        raw_data: bytes,
        ..Default::default()
    }
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.37).sin()).collect()
}

struct M {
    opset: i64,
    nodes: Vec<pb::NodeProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<&'static str>,
    inits: Vec<pb::TensorProto>,
}

fn encode(m: M) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: m.opset,
        }],
        graph: Some(pb::GraphProto {
            name: "g".into(),
            node: m.nodes,
            input: m.inputs,
            output: m.outputs.iter().map(|o| out(o)).collect(),
            initializer: m.inits,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn import(m: M) -> Graph {
    let g = import_onnx_bytes(&encode(m), "test").unwrap_or_else(|e| panic!("import failed: {e}"));
    verify(&g).expect("imported graph verifies");
    g
}

fn import_err(m: M) -> String {
    import_onnx_bytes(&encode(m), "test")
        .expect_err("import must fail")
        .to_string()
}

fn summary(g: &Graph) -> String {
    print_graph(g, &PrintOptions::summary())
}

#[test]
fn conv_pool_gemm_softmax() {
    let g = import(M {
        opset: 13,
        nodes: vec![
            node(
                "Conv",
                "conv0",
                &["x", "w", "b"],
                &["c"],
                vec![
                    ("pads", A::Is(vec![1, 1, 1, 1])),
                    ("strides", A::Is(vec![2, 2])),
                ],
            ),
            node("Relu", "", &["c"], &["r"], vec![]),
            node(
                "MaxPool",
                "pool",
                &["r"],
                &["p"],
                vec![
                    ("kernel_shape", A::Is(vec![2, 2])),
                    ("strides", A::Is(vec![2, 2])),
                ],
            ),
            node("Flatten", "", &["p"], &["f"], vec![]),
            node(
                "Gemm",
                "fc",
                &["f", "fw", "fb"],
                &["y"],
                vec![("transB", A::I(1)), ("alpha", A::F(0.5))],
            ),
            node("Softmax", "", &["y"], &["prob"], vec![]),
        ],
        inputs: vec![vi("x", F, &[-1, 3, 8, 8])],
        outputs: vec!["prob"],
        inits: vec![
            tensor_f32("w", &[4, 3, 3, 3], ramp(108)),
            tensor_f32("b", &[4], vec![0.1, 0.2, 0.3, 0.4]),
            tensor_f32("fw", &[5, 16], ramp(80)),
            tensor_f32("fb", &[5], vec![0.0; 5]),
        ],
    });
    insta::assert_snapshot!(summary(&g));
}

#[test]
fn softmax_before_opset13_is_coerced_to_2d() {
    let m = |opset| M {
        opset,
        nodes: vec![node(
            "LogSoftmax",
            "sm",
            &["x"],
            &["y"],
            vec![("axis", A::I(1))],
        )],
        inputs: vec![vi("x", F, &[2, 3, 4])],
        outputs: vec!["y"],
        inits: vec![],
    };
    insta::assert_snapshot!("softmax_opset11", summary(&import(m(11))));
    insta::assert_snapshot!("softmax_opset13", summary(&import(m(13))));
}

#[test]
fn shape_chain_folds_to_a_constant_reshape() {
    let g = import(M {
        opset: 13,
        nodes: vec![
            node("Shape", "", &["x"], &["s"], vec![]),
            node(
                "Gather",
                "",
                &["s", "zero"],
                &["n"],
                vec![("axis", A::I(0))],
            ),
            node("Unsqueeze", "", &["n", "axes0"], &["n1"], vec![]),
            node(
                "Concat",
                "",
                &["n1", "minus1"],
                &["shape"],
                vec![("axis", A::I(0))],
            ),
            node("Reshape", "", &["x", "shape"], &["y"], vec![]),
        ],
        inputs: vec![vi("x", F, &[2, 3, 4])],
        outputs: vec!["y"],
        inits: vec![
            tensor_i64("zero", &[], vec![0]),
            tensor_i64("axes0", &[1], vec![0]),
            tensor_i64("minus1", &[1], vec![-1]),
        ],
    });
    insta::assert_snapshot!(summary(&g));
}

#[test]
fn conv1d_and_same_padding() {
    let g = import(M {
        opset: 17,
        nodes: vec![
            node(
                "Conv",
                "c1",
                &["x", "w"],
                &["y"],
                vec![
                    ("auto_pad", A::S("SAME_UPPER")),
                    ("strides", A::Is(vec![2])),
                ],
            ),
            node(
                "AveragePool",
                "p",
                &["y"],
                &["z"],
                vec![
                    ("kernel_shape", A::Is(vec![2])),
                    ("ceil_mode", A::I(1)),
                    ("strides", A::Is(vec![2])),
                ],
            ),
        ],
        inputs: vec![vi("x", F, &[1, 2, 10])],
        outputs: vec!["z"],
        inits: vec![tensor_f32("w", &[3, 2, 4], ramp(24))],
    });
    insta::assert_snapshot!(summary(&g));
}

#[test]
fn conv_transpose_output_shape() {
    let g = import(M {
        opset: 13,
        nodes: vec![node(
            "ConvTranspose",
            "ct",
            &["x", "w"],
            &["y"],
            vec![
                ("strides", A::Is(vec![2, 2])),
                ("output_shape", A::Is(vec![9, 10])),
                ("auto_pad", A::S("SAME_UPPER")),
            ],
        )],
        inputs: vec![vi("x", F, &[1, 2, 4, 5])],
        outputs: vec!["y"],
        inits: vec![tensor_f32("w", &[2, 3, 3, 3], ramp(54))],
    });
    insta::assert_snapshot!(summary(&g));
}

#[test]
fn clip_attribute_and_input_forms() {
    let attr = import(M {
        opset: 6,
        nodes: vec![node(
            "Clip",
            "",
            &["x"],
            &["y"],
            vec![("min", A::F(0.0)), ("max", A::F(6.0))],
        )],
        inputs: vec![vi("x", F, &[4])],
        outputs: vec!["y"],
        inits: vec![],
    });
    let input = import(M {
        opset: 13,
        nodes: vec![node("Clip", "", &["x", "", "hi"], &["y"], vec![])],
        inputs: vec![vi("x", F, &[4])],
        outputs: vec!["y"],
        inits: vec![tensor_f32("hi", &[], vec![6.0])],
    });
    insta::assert_snapshot!("clip_attr", summary(&attr));
    insta::assert_snapshot!("clip_input", summary(&input));
}

#[test]
fn split_slice_pad_squeeze() {
    let g = import(M {
        opset: 18,
        nodes: vec![
            node(
                "Split",
                "",
                &["x"],
                &["a", "b", "c"],
                vec![("axis", A::I(1)), ("num_outputs", A::I(3))],
            ),
            node("Slice", "", &["a", "st", "en", "ax", "sp"], &["s"], vec![]),
            node(
                "Pad",
                "",
                &["b", "pads"],
                &["p"],
                vec![("mode", A::S("reflect"))],
            ),
            node("Squeeze", "", &["c", "sq"], &["q"], vec![]),
        ],
        inputs: vec![vi("x", F, &[1, 7, 4])],
        outputs: vec!["s", "p", "q"],
        inits: vec![
            tensor_i64("st", &[1], vec![-1]),
            tensor_i64("en", &[1], vec![i64::MIN]),
            tensor_i64("ax", &[1], vec![2]),
            tensor_i64("sp", &[1], vec![-2]),
            tensor_i64("pads", &[6], vec![0, 0, 1, 0, 0, 2]),
            tensor_i64("sq", &[1], vec![0]),
        ],
    });
    insta::assert_snapshot!(summary(&g));
}

#[test]
fn qlinear_conv_puts_parameters_on_types() {
    let f32s = |n: &str, v: Vec<f32>| tensor_f32(n, &[v.len() as i64], v);
    let g = import(M {
        opset: 13,
        nodes: vec![
            node(
                "QLinearConv",
                "qc",
                &["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
                &["y"],
                vec![],
            ),
            node(
                "DequantizeLinear",
                "dq",
                &["y", "ys", "yz"],
                &["out"],
                vec![],
            ),
        ],
        inputs: vec![vi("x", DataType::Uint8, &[1, 2, 3, 3])],
        outputs: vec!["out"],
        inits: vec![
            tensor_f32("xs", &[], vec![0.5]),
            raw("xz", DataType::Uint8, &[], vec![128]),
            raw("w", DataType::Int8, &[2, 2, 1, 1], vec![1, 2, 0xff, 4]),
            f32s("ws", vec![0.25, 0.125]),
            raw("wz", DataType::Int8, &[2], vec![0, 0]),
            tensor_f32("ys", &[], vec![0.75]),
            raw("yz", DataType::Uint8, &[], vec![100]),
            raw(
                "b",
                DataType::Int32,
                &[2],
                [7i32, -3].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
        ],
    });
    insta::assert_snapshot!(summary(&g));
}

#[test]
fn constant_forms_and_dropout_mask() {
    let g = import(M {
        opset: 13,
        nodes: vec![
            node(
                "Constant",
                "",
                &[],
                &["t"],
                vec![(
                    "value",
                    A::T(Box::new(tensor_f32("", &[2], vec![1.0, 2.0]))),
                )],
            ),
            node(
                "Constant",
                "",
                &[],
                &["f"],
                vec![("value_float", A::F(0.5))],
            ),
            node(
                "Constant",
                "",
                &[],
                &["is"],
                vec![("value_ints", A::Is(vec![2, 1]))],
            ),
            node("Mul", "", &["t", "f"], &["tf"], vec![]),
            node("Dropout", "", &["x"], &["d", "mask"], vec![]),
            node("Add", "", &["d", "tf"], &["y"], vec![]),
        ],
        inputs: vec![vi("x", F, &[2])],
        outputs: vec!["y", "is", "mask"],
        inits: vec![],
    });
    insta::assert_snapshot!(summary(&g));
}

#[test]
fn dynamic_batch_defaults_to_one_and_other_dims_must_be_known() {
    let m = |dims: &[i64]| M {
        opset: 13,
        nodes: vec![node("Relu", "", &["x"], &["y"], vec![])],
        inputs: vec![vi("x", F, dims)],
        outputs: vec!["y"],
        inits: vec![],
    };
    let g = import(m(&[-1, 3]));
    assert_eq!(g.ty(g.outputs()[0]).shape, vec![1, 3]);
    let e = import_err(m(&[1, -1]));
    assert!(
        e.contains("graph input 'x'") && e.contains("dimension 1 is symbolic"),
        "{e}"
    );
}

#[test]
fn errors_name_the_node() {
    let m = |name: &str, op: &str, attrs| M {
        opset: 13,
        nodes: vec![
            node("Relu", "", &["x"], &["r"], vec![]),
            node(op, name, &["r"], &["y"], attrs),
        ],
        inputs: vec![vi("x", F, &[1, 4])],
        outputs: vec!["y"],
        inits: vec![],
    };
    let e = import_err(m("", "ImageDecoder", vec![]));
    assert_eq!(
        e,
        "node 'ImageDecoder #1': unsupported op type 'ImageDecoder' (`nnopt ops` lists the supported ones)"
    );
    let e = import_err(m("my_lrelu", "LeakyRelu", vec![("alpha", A::S("big"))]));
    assert_eq!(
        e,
        "node 'my_lrelu': attribute 'alpha' must be FLOAT, found type STRING"
    );
    let e = import_err(m("t", "Transpose", vec![("perm", A::Is(vec![0, 2]))]));
    assert!(
        e.starts_with("node 't': axis 2 is out of range for rank 2"),
        "{e}"
    );
    let e = import_err(M {
        opset: 13,
        nodes: vec![node("Reshape", "rs", &["x", "x"], &["y"], vec![])],
        inputs: vec![vi("x", F, &[1, 4])],
        outputs: vec!["y"],
        inits: vec![],
    });
    assert!(
        e.contains("node 'rs'") && e.contains("must be a constant"),
        "{e}"
    );
}

#[test]
fn transformer_ops_reject_bad_input() {
    let m = |n: pb::NodeProto, inputs: Vec<pb::ValueInfoProto>| M {
        opset: 27,
        nodes: vec![n],
        inputs,
        outputs: vec!["y"],
        inits: vec![],
    };
    let x = || vi("x", F, &[1, 4, 8]);
    let in_domain = |domain: &str, op: &str| {
        let mut n = node(op, "d", &["x"], &["y"], vec![]);
        n.domain = domain.into();
        n
    };
    let e = import_err(m(in_domain("com.example", "Relu"), vec![x()]));
    assert_eq!(
        e,
        "node 'd': operator domain 'com.example' is not supported"
    );
    let e = import_err(m(in_domain("ai.onnx.preview", "Relu"), vec![x()]));
    assert!(
        e.contains("unsupported op type 'ai.onnx.preview::Relu'"),
        "{e}"
    );
    let e = import_err(m(
        node("RotaryEmbedding", "rope", &["x", "c", "c"], &["y"], vec![]),
        vec![x(), vi("c", F, &[1, 4, 4])],
    ));
    assert_eq!(
        e,
        "node 'rope': 3-D input needs num_heads dividing its hidden size"
    );
    let e = import_err(m(
        node("CausalConvWithState", "cc", &["x", "w"], &["y"], vec![]),
        vec![x(), vi("w", F, &[4, 2, 3])],
    ));
    assert!(e.starts_with("node 'cc': input must be [B, C, L]"), "{e}");
    let e = import_err(m(
        node(
            "LinearAttention",
            "la",
            &["x", "x", "x"],
            &["y"],
            vec![("update_rule", A::S("fancy"))],
        ),
        vec![x()],
    ));
    assert_eq!(e, "node 'la': unknown update_rule 'fancy'");
    let e = import_err(m(
        node("TensorScatter", "ts", &["x", "u"], &["y"], vec![]),
        vec![x(), vi("u", F, &[1, 5, 8])],
    ));
    assert!(e.starts_with("node 'ts': update"), "{e}");
}

#[test]
fn control_flow_and_narrow_types_reject_bad_input() {
    let m = |nodes: Vec<pb::NodeProto>, inputs, inits| M {
        opset: 21,
        nodes,
        inputs,
        outputs: vec!["y"],
        inits,
    };
    let e = import_err(m(
        vec![node(
            "Scan",
            "s",
            &["x"],
            &["y"],
            vec![("num_scan_inputs", A::I(1))],
        )],
        vec![vi("x", F, &[3, 2])],
        vec![],
    ));
    assert_eq!(e, "node 's': attribute 'body' is required");
    let mut cond_if = node("If", "branch", &["x"], &["y"], vec![]);
    for name in ["then_branch", "else_branch"] {
        cond_if.attribute.push(pb::AttributeProto {
            name: name.into(),
            r#type: AttributeType::Graph as i32,
            g: Some(pb::GraphProto::default()),
            ..Default::default()
        });
    }
    let e = import_err(m(vec![cond_if], vec![vi("x", F, &[1])], vec![]));
    assert!(
        e.starts_with("node 'branch': the condition must be one bool"),
        "{e}"
    );
    // Five int4 values take three packed bytes; two are not enough.
    let e = import_err(m(
        vec![node("Cast", "c", &["w"], &["y"], vec![("to", A::I(1))])],
        vec![],
        vec![raw("w", DataType::Int4, &[5], vec![0x21, 0x43])],
    ));
    assert!(
        e.contains("2 bytes of packed 4-bit data, 3 expected"),
        "{e}"
    );
    let e = import_err(m(
        vec![node("BitCast", "bc", &["x"], &["y"], vec![("to", A::I(7))])],
        vec![vi("x", F, &[2])],
        vec![],
    ));
    assert!(e.contains("cannot reinterpret f32 as i64"), "{e}");
}

#[test]
fn non_zero_of_a_constant_folds() {
    let m = |input: &str, inputs, inits| M {
        opset: 13,
        nodes: vec![node("NonZero", "nz", &[input], &["y"], vec![])],
        inputs,
        outputs: vec!["y"],
        inits,
    };
    let c = tensor_f32("c", &[2, 3], vec![0.0, 1.5, 0.0, -2.0, 0.0, 3.0]);
    let g = import(m("c", vec![], vec![c]));
    let y = nnopt_compiler::interp::run(&g, &[]).unwrap();
    let want = ndarray::ArrayD::from_shape_vec(vec![2, 3], vec![0i64, 1, 1, 1, 0, 2]).unwrap();
    assert_eq!(y, vec![nnopt_compiler::ir::Tensor::I64(want)]);
    let e = import_err(m("x", vec![vi("x", F, &[2, 3])], vec![]));
    assert!(
        e.starts_with("node 'nz': the output shape depends on"),
        "{e}"
    );
}

#[test]
fn initializer_forms() {
    let mut ext = tensor_f32("w", &[2], vec![]);
    ext.data_location = Some(pb::tensor_proto::DataLocation::External as i32);
    let m = |w| M {
        opset: 13,
        nodes: vec![node("Add", "", &["x", "w"], &["y"], vec![])],
        inputs: vec![vi("x", F, &[2])],
        outputs: vec!["y"],
        inits: vec![w],
    };
    let e = import_err(m(ext));
    assert!(
        e.contains("initializer 'w'") && e.contains("external data"),
        "{e}"
    );
    let e = import_err(m(raw("w", F, &[2], vec![0; 7])));
    assert!(e.contains("raw_data has 7 bytes, 8 expected"), "{e}");
    let e = import_err(m(tensor_f32("w", &[3], vec![1.0])));
    assert!(e.contains("float_data has 1 values, 3 expected"), "{e}");
    // float16 raw data becomes f32.
    let half: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    let g = import(m(raw("w", DataType::Float16, &[2], half)));
    assert!(summary(&g).contains("const [1.5, -2.0]"), "{}", summary(&g));
}

/// Valid model bytes for the robustness tests: the generated test models when present,
/// else a model built here.
fn sample_models() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![(
        "built".to_string(),
        encode(M {
            opset: 13,
            nodes: vec![
                node(
                    "Conv",
                    "c",
                    &["x", "w"],
                    &["y"],
                    vec![("pads", A::Is(vec![1, 1, 1, 1]))],
                ),
                node("Relu", "", &["y"], &["z"], vec![]),
            ],
            inputs: vec![vi("x", F, &[1, 2, 5, 5])],
            outputs: vec!["z"],
            inits: vec![tensor_f32("w", &[3, 2, 3, 3], ramp(54))],
        }),
    )];
    if let Some(dir) = common::testdata("onnx/models") {
        for name in [
            "cnn_bn_pool_softmax",
            "tensor_ops",
            "shape_reshape",
            "resize_modes",
        ] {
            if let Ok(b) = std::fs::read(dir.join(format!("{name}.onnx"))) {
                v.push((name.to_string(), b));
            }
        }
    }
    v
}

#[test]
fn truncated_models_give_errors_not_panics() {
    for (name, bytes) in sample_models() {
        let step = (bytes.len() / 400).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let r = std::panic::catch_unwind(|| import_onnx_bytes(&bytes[..cut], "t"));
            match r {
                Err(_) => panic!("{name}: panic on truncation at {cut} of {}", bytes.len()),
                Ok(Ok(g)) => {
                    verify(&g).unwrap_or_else(|e| panic!("{name} cut {cut}: invalid graph: {e}"))
                }
                Ok(Err(_)) => {}
            }
        }
    }
}

#[test]
fn corrupted_models_give_errors_not_panics() {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, bytes) in sample_models() {
        for trial in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..1 + trial % 3 {
                let i = (next() % b.len() as u64) as usize;
                b[i] ^= 1 << (next() % 8);
            }
            let r = std::panic::catch_unwind(|| import_onnx_bytes(&b, "t"));
            match r {
                Err(_) => panic!("{name}: panic on corrupted copy (trial {trial})"),
                Ok(Ok(g)) => verify(&g)
                    .unwrap_or_else(|e| panic!("{name} trial {trial}: invalid graph: {e}")),
                Ok(Err(_)) => {}
            }
        }
    }
}
