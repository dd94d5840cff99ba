//! The virtual NPU against the reference interpreter: every int8 TFLite model is lowered
//! and run on seeded random inputs and on LiteRT's test inputs; outputs must be equal bit
//! for bit. Small hand-written graphs cover each NPU kernel, NCHW lowering, CPU segments,
//! host-CPU commands and the float IO boundary.

#[path = "../../formats/tests/common/mod.rs"]
mod common;
mod harness;

use common::litert::{all_models, available, load_cases, models_dir, testdata_dir};
use harness::*;
use nnopt_backends::npu::{self, vnpu, Command, IoConversion, LowerOptions};
use nnopt_compiler::ir::text::parse_graph;
use nnopt_compiler::ir::{DType, Layout, Tensor};
use nnopt_formats::tflite::import_tflite_bytes;

/// Checks a shared model: random inputs, LiteRT's inputs, and the op placement. Returns
/// the sorted fallback op names.
fn check_model(model: &str) -> Option<Vec<String>> {
    let path = models_dir().join(format!("{model}.tflite"));
    if !available(&path) {
        return None;
    }
    let bytes = std::fs::read(&path).expect("model readable");
    let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
    let g = import_tflite_bytes(&bytes, stem).unwrap_or_else(|e| panic!("{model}: import: {e}"));
    let npu::Compilation {
        program: p,
        lowering: report,
        binary: file,
        ..
    } = compile(&g);
    eprintln!(
        "{model}: {} commands ({} on CPU), arena {} bytes vs naive {} bytes; NPU ops {:?}",
        p.commands.len(),
        p.commands.iter().filter(|c| c.on_host()).count(),
        report.arena_bytes,
        report.naive_bytes,
        report.npu_ops
    );
    for f in &report.fallbacks {
        eprintln!("  CPU: {} ({}): {}", f.node, f.op, f.reason);
    }
    assert!(report.arena_bytes <= report.naive_bytes, "{model}: arena");
    assert_eq!(p.arena_size, report.arena_bytes);
    assert_no_live_overlap(&p);
    // The program survives the .npub binary unchanged.
    let (back, _) = npu::binary::read(&file).expect("binary reads");
    assert!(
        back == p,
        "{model}: the program changed through the binary format"
    );
    let mut rng = Lcg(0x5eed ^ bytes.len() as u64);
    for i in 0..3 {
        let inputs = random_inputs(&g, &mut rng);
        assert_same(&format!("{model} random {i}"), &g, &p, &inputs);
    }
    let inputs = random_inputs(&g, &mut rng);
    let start = std::time::Instant::now();
    vnpu::run(&p, &inputs).expect("vnpu runs");
    eprintln!("{model}: one vNPU inference took {:?}", start.elapsed());
    let data = testdata_dir().join("litert").join(stem);
    if litert_refused(stem) {
        eprintln!("{model}: LiteRT refuses the model, so there are no LiteRT inputs");
    } else if available(&data.join("meta.json")) {
        let cases = load_cases(&data, true);
        assert!(!cases.is_empty(), "{model}: no LiteRT cases");
        for c in &cases {
            assert_same(&format!("{model} LiteRT case {}", c.k), &g, &p, &c.inputs);
        }
    }
    let mut ops: Vec<String> = report.fallbacks.iter().map(|f| f.op.clone()).collect();
    ops.sort();
    ops.dedup();
    Some(ops)
}

/// Whether tools/make_testdata.py recorded that LiteRT refuses `stem` (and so wrote no
/// cases for it), as it does for person_detect's invalid quantization parameters.
fn litert_refused(stem: &str) -> bool {
    let path = testdata_dir().join("litert").join("refused.json");
    if !available(&path) {
        return false;
    }
    let text = std::fs::read_to_string(&path).expect("refused.json readable");
    let v: serde_json::Value = serde_json::from_str(&text).expect("refused.json parses");
    v[stem]["data_written"] == serde_json::Value::Bool(false)
}

#[test]
fn hello_world_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("hello_world_int8") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn micro_speech_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("micro_speech_quantized") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn person_detect_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("person_detect") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn keyword_scrambled_matches_the_interpreter() {
    // The SVDFs run as host-CPU commands; the int16 requantizations at both ends, the
    // fully connected layers between the SVDFs and the int8 -> int16 softmax on the NPU.
    if let Some(ops) = check_model("keyword_scrambled_8bit") {
        assert_eq!(ops, ["svdf"]);
    }
}

#[test]
fn digits_cnn_runs_fully_on_the_npu() {
    if let Some(ops) = check_model("generated/digits_cnn_int8") {
        assert!(ops.is_empty(), "unexpected CPU ops {ops:?}");
    }
}

#[test]
fn float_model_runs_as_one_cpu_segment() {
    if let Some(ops) = check_model("generated/digits_cnn_float") {
        assert!(!ops.is_empty());
    }
    let path = models_dir().join("generated/digits_cnn_float.tflite");
    if available(&path) {
        let g = import_tflite_bytes(&std::fs::read(&path).unwrap(), "digits_cnn_float").unwrap();
        let (p, _) = lower(&g);
        let kinds: Vec<&str> = p.commands.iter().map(|c| c.kind_name()).collect();
        assert_eq!(kinds, ["cpu"]);
    }
}

#[test]
fn every_importable_shared_model_lowers() {
    for path in all_models() {
        let name = path.display().to_string();
        let Ok(g) = import_tflite_bytes(&std::fs::read(&path).unwrap(), "m") else {
            continue;
        };
        let (p, report) = lower(&g);
        let covered: usize = report.npu_ops.values().sum();
        eprintln!(
            "{name}: {covered} ops on the NPU, {} on the CPU, {} CPU segments",
            report.fallbacks.len(),
            p.cpu_segments.len()
        );
        assert_no_live_overlap(&p);
        assert_eq!(p.inputs.len(), g.inputs().len(), "{name}");
        assert_eq!(p.outputs.len(), g.outputs().len(), "{name}");
    }
}

/// ONNX's QLinearConv node test: an NCHW uint8 convolution lowered directly (weights
/// transposed to OHWI at compile time), equal to the interpreter and to ONNX's expected
/// output.
#[test]
fn onnx_qlinearconv_runs_nchw_on_the_npu() {
    let Some(dir) = common::testdata("onnx-node/test_qlinearconv") else {
        return;
    };
    let bytes = std::fs::read(dir.join("model.onnx")).expect("model readable");
    let data = dir.join("test_data_set_0");
    let mut inputs = Vec::new();
    for k in 0.. {
        let f = data.join(format!("input_{k}.pb"));
        if !f.exists() {
            break;
        }
        inputs.push(common::read_pb(&f).expect("input reads"));
    }
    // Bind everything but the activation (scales, zero points, weights) as constants.
    let constants: std::collections::HashMap<String, Tensor> =
        inputs[1..].iter().cloned().collect();
    let g = nnopt_formats::onnx::import_onnx_with_constants(&bytes, "qlinearconv", &constants)
        .expect("imports");
    let (p, report) = lower(&g);
    assert!(report.fallbacks.is_empty(), "{:?}", report.fallbacks);
    let Command::Conv2d(c) = &p.commands[0] else {
        panic!("expected a conv, got {:?}", p.commands);
    };
    assert_eq!(c.layout, Layout::Nchw);
    let x = vec![inputs[0].1.clone()];
    assert_same("qlinearconv", &g, &p, &x);
    let (_, want) = common::read_pb(&data.join("output_0.pb")).expect("output reads");
    assert_eq!(vnpu::run(&p, &x).unwrap()[0], want);
}

#[test]
fn mobilenet_v2_matches_the_interpreter() {
    // Its softmax input scale is too small for TFLite's fixed-point kernel: LiteRT runs
    // its float-table kernel, a host-CPU command.
    if let Some(ops) = check_model("generated/mobilenet_v2_035_96_int8") {
        assert_eq!(ops, ["softmax"]);
    }
}

/// A float model quantized at its ends: the NPU quantizes the input and dequantizes the
/// output itself; the softmax in the middle, whose beta is too small for TFLite's
/// fixed-point kernel (LiteRT's float-table kernel computes it), runs as a host-CPU
/// command between NPU commands.
const FLOAT_IO: &str = r#"graph "float_io"(%x) {
  %x: f32[1,6] = input
  %xq: i8[1,6] q(scale=[0.02], zp=[-1]) = quantize {"to":"i8","rounding":"tflite"}(%x)
  %w: i8[4,6] q(scale=[0.01, 0.02, 0.015, 0.03], zp=[0, 0, 0, 0], axis=0) = const [1, -2, 3, 4, -5, 6, 7, 8, -9, 10, 11, 12, -13, 14, 15, 16, 17, -18, 19, 20, 21, -22, 23, 127]
  %b: i32[4] = const [10, -20, 30, -40]
  %h: i8[1,4] q(scale=[0.01], zp=[2]) = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":true,"activation":null}(%xq, %w, %b)
  %s: i8[1,4] q(scale=[0.00390625], zp=[-128]) = softmax {"axis":1,"beta":0.000001}(%h)
  %t: i8[1,4] q(scale=[0.01], zp=[0]) = binary {"kind":"add","activation":null}(%s, %h)
  %y: f32[1,4] = dequantize(%t)
  return %y
}"#;

#[test]
fn float_io_is_quantized_at_the_boundary() {
    let g = parse_graph(FLOAT_IO).expect("parses");
    let (p, report) = lower(&g);
    assert_eq!(
        p.inputs[0].conversion,
        IoConversion::Quantize {
            rounding: nnopt_compiler::ir::QuantizeRounding::Tflite
        }
    );
    assert_eq!(p.inputs[0].dtype, DType::F32);
    assert_eq!(p.outputs[0].conversion, IoConversion::Dequantize);
    assert_eq!(p.outputs[0].dtype, DType::F32);
    let kinds: Vec<&str> = p.commands.iter().map(|c| c.kind_name()).collect();
    assert_eq!(kinds, ["fully_connected", "table_softmax", "elementwise"]);
    assert_eq!(report.fallbacks.len(), 1);
    assert_eq!(report.fallbacks[0].op, "softmax");
    let mut rng = Lcg(3);
    for i in 0..8 {
        assert_same(
            &format!("float io #{i}"),
            &g,
            &p,
            &random_inputs(&g, &mut rng),
        );
    }
    // Values on rounding ties and out of range.
    let x = Tensor::from_f64s(DType::F32, &[1, 6], &[0.01, -0.01, 0.03, 5.0, -5.0, 0.0]).unwrap();
    assert_same("float io ties", &g, &p, &[x]);
}

#[test]
fn onnx_style_half_even_quantize_at_the_boundary() {
    let src = FLOAT_IO.replace(r#","rounding":"tflite""#, "");
    let g = parse_graph(&src).expect("parses");
    let (p, _) = lower(&g);
    assert_eq!(
        p.inputs[0].conversion,
        IoConversion::Quantize {
            rounding: nnopt_compiler::ir::QuantizeRounding::HalfEven
        }
    );
    let x = Tensor::from_f64s(DType::F32, &[1, 6], &[0.01, -0.01, 0.03, 0.05, -0.07, 0.0]).unwrap();
    assert_same("half-even ties", &g, &p, &[x]);
}

/// The shape of the quantize-int8 pass's output: quantize at the input, fused conv
/// activation, a float tail (dequantize + log_softmax) and two outputs.
const PTQ_TINY_CNN: &str = r#"graph "tiny_cnn"(%x) {
  %x: f32[1,2,2,1] = input
  %x_quant: i8[1,2,2,1] q(scale=[0.007843138], zp=[-1]) = quantize {"to":"i8","rounding":"tflite"}(%x)
  %w_int8: i8[2,1,1,1] q(scale=[0.003937008, 0.015748031], zp=[0, 0], axis=0) = const [127, -127]
  %b_int32: i32[2] q(scale=[3.0878495e-5, 0.00012351398], zp=[0, 0], axis=0) = const [3238, -1619]
  %r: i8[1,2,2,2] q(scale=[0.0070588235], zp=[-128]) = conv {"layout":"nhwc","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":"relu"}(%x_quant, %w_int8, %b_int32) @"c"
  %m: i8[1,1,1,2] q(scale=[0.0070588235], zp=[-128]) = pool {"kind":"max","layout":"nhwc","kernel":[2,2],"strides":[2,2],"pads":[0,0,0,0],"count_include_pad":false,"activation":null}(%r)
  %f: i8[1,2] q(scale=[0.0070588235], zp=[-128]) = reshape {"shape":[1,2]}(%m)
  %s_int8: i8[1,2] q(scale=[0.00390625], zp=[-128]) = softmax {"axis":1,"beta":1.0}(%f)
  %f_dequant: f32[1,2] = dequantize(%f)
  %l: f32[1,2] = log_softmax {"axis":1}(%f_dequant)
  %s: f32[1,2] = dequantize(%s_int8)
  return %s, %l
}"#;

#[test]
fn quantize_int8_pass_output_runs_with_a_float_tail() {
    let g = parse_graph(PTQ_TINY_CNN).expect("parses");
    let (p, report) = lower(&g);
    let kinds: Vec<&str> = p.commands.iter().map(|c| c.kind_name()).collect();
    assert_eq!(kinds, ["conv2d", "pool", "softmax", "cpu"]);
    let cpu: Vec<&str> = report.fallbacks.iter().map(|f| f.op.as_str()).collect();
    assert_eq!(cpu, ["dequantize", "log_softmax"]);
    assert_eq!(p.outputs[0].conversion, IoConversion::Dequantize);
    assert_eq!(p.outputs[1].conversion, IoConversion::None);
    let mut rng = Lcg(5);
    for i in 0..8 {
        assert_same(
            &format!("ptq tiny cnn #{i}"),
            &g,
            &p,
            &random_inputs(&g, &mut rng),
        );
    }
}

#[test]
fn reshape_between_cpu_ops_joins_their_segment() {
    // Reflection padding: CPU ops without a host kernel.
    let g = parse_graph(
        r#"graph "cpu_reshape"(%x) {
  %x: i8[2,6] q(scale=[0.1], zp=[3]) = input
  %a: i8[2,8] q(scale=[0.1], zp=[3]) = pad {"pads":[[0,0],[1,1]],"mode":"reflect","value":0.0}(%x)
  %r: i8[4,4] q(scale=[0.1], zp=[3]) = reshape {"shape":[4,4]}(%a)
  %b: i8[4,6] q(scale=[0.1], zp=[3]) = pad {"pads":[[0,0],[1,1]],"mode":"reflect","value":0.0}(%r)
  return %b
}"#,
    )
    .expect("parses");
    let (p, report) = lower(&g);
    assert_eq!(p.cpu_segments.len(), 1);
    assert_eq!(report.fallbacks.len(), 3);
    let mut rng = Lcg(9);
    for i in 0..4 {
        assert_same(
            &format!("cpu reshape #{i}"),
            &g,
            &p,
            &random_inputs(&g, &mut rng),
        );
    }
}

#[test]
fn strict_lowering_names_the_unsupported_node() {
    let g = parse_graph(FLOAT_IO).expect("parses");
    let target = npu::target::Target::preset("npu").expect("default target");
    let strict = LowerOptions {
        cpu_fallback: false,
    };
    let e = npu::compile(&g, &target, &strict).unwrap_err();
    assert_eq!(e.node.as_deref(), Some("s"));
    assert!(e.message.contains("softmax"), "{e}");
}

#[test]
fn wrong_inputs_are_errors() {
    let g = parse_graph(FLOAT_IO).expect("parses");
    let (p, _) = lower(&g);
    assert!(vnpu::run(&p, &[]).is_err());
    let wrong = Tensor::zeros(DType::I8, &[1, 6]);
    assert!(vnpu::run(&p, &[wrong]).is_err());
    let x = Tensor::zeros(DType::F32, &[1, 6]);
    let mut bad = p.clone();
    bad.arena_size = 3;
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
    // Corrupt parameters are errors, not panics.
    let mut bad = p.clone();
    bad.weights[0].requant[0].shift = 40;
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
    let mut bad = p.clone();
    if let Command::FullyConnected(fc) = &mut bad.commands[0] {
        fc.stage.act_min = 5;
        fc.stage.act_max = -5;
    }
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
    let mut bad = p.clone();
    bad.commands.push(Command::Cpu { segment: 9 });
    assert!(vnpu::run(&bad, std::slice::from_ref(&x)).is_err());
}
