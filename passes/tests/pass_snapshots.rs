//! Snapshots of the IR before and after each pass on small models.

use nnopt_compiler::interp;
use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::{verify, Graph, Tensor};
use nnopt_compiler::pass::Pass;
use nnopt_passes::*;

fn run_pass(pass: &dyn Pass, src: &str) -> (Graph, Graph, String) {
    let before = parse_graph(src).expect("test IR parses");
    verify(&before).expect("test IR verifies");
    let mut after = before.clone();
    pass.run(&mut after).expect("pass runs");
    verify(&after).expect("pass output verifies");
    let opts = PrintOptions::default();
    let text = format!(
        "before:\n{}\nafter ({}):\n{}",
        print_graph(&before, &opts),
        pass.name(),
        print_graph(&after, &opts)
    );
    (before, after, text)
}

fn ramp(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0).collect();
    Tensor::from_f64s(nnopt_compiler::ir::DType::F32, shape, &v).expect("shape matches")
}

fn assert_same_outputs(a: &Graph, b: &Graph, inputs: &[Tensor]) {
    let ra = interp::run(a, inputs).expect("before runs");
    let rb = interp::run(b, inputs).expect("after runs");
    assert_eq!(ra.len(), rb.len());
    for (x, y) in ra.iter().zip(&rb) {
        let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
        let scale = x.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
        let err = x
            .iter()
            .zip(&y)
            .fold(0f64, |m, (p, q)| m.max((p - q).abs()));
        assert!(
            err / scale <= 1e-5,
            "outputs differ: max abs err {err} (scale {scale})"
        );
    }
}

const CONV_BN: &str = r#"graph "conv_bn"(%x) {
  %x: f32[1,2,3,3] = input
  %w: f32[2,2,1,1] = const [1.0, 0.5, -1.0, 2.0]
  %b: f32[2] = const [0.25, -0.5]
  %gamma: f32[2] = const [3.0, 1.5]
  %beta: f32[2] = const [0.1, 0.2]
  %mean: f32[2] = const [0.3, -0.4]
  %var: f32[2] = const [4.0, 0.25]
  %c: f32[1,2,3,3] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%x, %w, %b)
  %y: f32[1,2,3,3] = batch_norm {"epsilon":0.0,"axis":1}(%c, %gamma, %beta, %mean, %var)
  return %y
}
"#;

#[test]
fn batchnorm_folding_into_conv() {
    let (before, after, text) = run_pass(&BatchNormFolding, CONV_BN);
    insta::assert_snapshot!(text);
    assert_same_outputs(&before, &after, &[ramp(&[1, 2, 3, 3])]);
}

const GEMM_BN: &str = r#"graph "gemm_bn"(%x) {
  %x: f32[2,3] = input
  %w: f32[3,2] = const [1.0, 0.5, -1.0, 2.0, 0.0, 1.5]
  %gamma: f32[2] = const [3.0, 1.5]
  %beta: f32[2] = const [0.1, 0.2]
  %mean: f32[2] = const [0.3, -0.4]
  %var: f32[2] = const [4.0, 0.25]
  %m: f32[2,2] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%x, %w)
  %y: f32[2,2] = batch_norm {"epsilon":0.0,"axis":1}(%m, %gamma, %beta, %mean, %var)
  return %y
}
"#;

#[test]
fn batchnorm_folding_into_gemm() {
    let (before, after, text) = run_pass(&BatchNormFolding, GEMM_BN);
    insta::assert_snapshot!(text);
    assert_same_outputs(&before, &after, &[ramp(&[2, 3])]);
}

#[test]
fn batchnorm_after_fused_activation_is_kept() {
    let src = CONV_BN.replace("\"activation\":null", "\"activation\":\"relu\"");
    let (_, after, _) = run_pass(&BatchNormFolding, &src);
    assert!(print_graph(&after, &PrintOptions::default()).contains("batch_norm"));
}

const DEAD: &str = r#"graph "dead"(%x, %unused) {
  %x: f32[1,4] = input
  %unused: f32[1,4] = input
  %a: f32[1,4] = activation {"act":"relu"}(%x)
  %dead1: f32[1,4] = activation {"act":"tanh"}(%x)
  %dead2: f32[1,4] = binary {"kind":"add","activation":null}(%dead1, %a)
  return %a
}
"#;

#[test]
fn dead_node_elimination() {
    let (_, _, text) = run_pass(&DeadNodeElimination, DEAD);
    insta::assert_snapshot!(text);
}

const IDENTITIES: &str = r#"graph "identities"(%x) {
  %x: f32[1,4] = input
  %i1: f32[1,4] = identity(%x)
  %a: f32[1,4] = activation {"act":"relu"}(%i1)
  %out: f32[1,4] = identity(%a)
  %pass: f32[1,4] = identity(%x)
  return %out, %pass
}
"#;

#[test]
fn identity_removal_keeps_interface_names() {
    let (before, after, text) = run_pass(&IdentityRemoval, IDENTITIES);
    insta::assert_snapshot!(text);
    assert_same_outputs(&before, &after, &[ramp(&[1, 4])]);
}

const SHAPES: &str = r#"graph "shapes"(%x) {
  %x: f32[2,3,8,8] = input
  %w: f32[4,3,3,3] = const [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
  %c: f32[1,1,1,1] = conv {"layout":"nchw","strides":[2,2],"dilations":[1,1],"pads":[1,1,1,1],"group":1,"activation":null}(%x, %w)
  %p: f32[1,1,1,1] = pool {"kind":"max","layout":"nchw","kernel":[2,2],"strides":[2,2],"pads":[0,0,0,0],"count_include_pad":false,"activation":null}(%c)
  %r: f32[1] = reshape {"shape":[32]}(%p)
  return %r
}
"#;

#[test]
fn shape_inference_recomputes_shapes() {
    let g = parse_graph(SHAPES).expect("parses");
    assert!(verify(&g).is_err(), "declared shapes are stale on purpose");
    let mut after = g.clone();
    assert!(ShapeInference.run(&mut after).expect("infers"));
    verify(&after).expect("verifies after inference");
    insta::assert_snapshot!(print_graph(&after, &PrintOptions::summary()));
}

const FOLDABLE: &str = r#"graph "foldable"(%x) {
  %x: f32[1,4] = input
  %a: f32[2,2] = const [1.0, 2.0, 3.0, 4.0]
  %b: f32[2,2] = const [0.5, 0.5, 0.5, 0.5]
  %s: f32[2,2] = binary {"kind":"mul","activation":null}(%a, %b)
  %t: f32[4] = reshape {"shape":[4]}(%s)
  %y: f32[1,4] = binary {"kind":"add","activation":null}(%x, %t)
  return %y
}
"#;

#[test]
fn constant_folding() {
    let (before, after, text) = run_pass(&ConstantFolding::default(), FOLDABLE);
    insta::assert_snapshot!(text);
    assert_same_outputs(&before, &after, &[ramp(&[1, 4])]);
}

#[test]
fn default_pipeline_parses_and_instantiates() {
    let spec = default_pipeline();
    let p = nnopt_compiler::pass::Pipeline::from_spec(&spec, &registry()).expect("instantiates");
    assert_eq!(p.pass_names().first(), Some(&"shape-inference"));
}

#[test]
fn unknown_pass_and_bad_options_are_errors() {
    let spec = nnopt_compiler::pass::PipelineSpec::from_yaml("passes: [no-such-pass]")
        .expect("yaml parses");
    let err = nnopt_compiler::pass::Pipeline::from_spec(&spec, &registry())
        .err()
        .expect("fails");
    assert!(err.to_string().contains("unknown pass 'no-such-pass'"));
    let spec = nnopt_compiler::pass::PipelineSpec::from_yaml(
        "passes: [{name: constant-folding, options: {max_elementz: 3}}]",
    )
    .expect("yaml parses");
    let err = nnopt_compiler::pass::Pipeline::from_spec(&spec, &registry())
        .err()
        .expect("fails");
    assert!(err.to_string().contains("max_elementz"), "{err}");
}

const TINY_CNN: &str = r#"graph "tiny_cnn"(%x) {
  %x: f32[1,2,2,1] = input
  %w: f32[2,1,1,1] = const [0.5, -2.0]
  %b: f32[2] = const [0.1, -0.2]
  %c: f32[1,2,2,2] = conv {"layout":"nhwc","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%x, %w, %b)
  %r: f32[1,2,2,2] = activation {"act":"relu"}(%c)
  %m: f32[1,1,1,2] = pool {"kind":"max","layout":"nhwc","kernel":[2,2],"strides":[2,2],"pads":[0,0,0,0],"count_include_pad":false,"activation":null}(%r)
  %f: f32[1,2] = reshape {"shape":[1,2]}(%m)
  %s: f32[1,2] = softmax {"axis":1,"beta":1.0}(%f)
  %l: f32[1,2] = log_softmax {"axis":1}(%f)
  return %s, %l
}
"#;

/// Scales checked by hand: input range [-1, 1] -> 2/255 = 0.007843137, zero point -1
/// (TFLite rounds the tie -0.5 away from zero); weights max|w| / 127 per channel
/// (0.5/127 = 0.003937008, 2/127 = 0.015748031, values +-127); bias scales their
/// products with the input scale (3.0878e-5, 1.2351e-4; -0.2 / 1.2351e-4 = -1619);
/// conv + fused relu output [0, 1.8] (channel 1 at x = -1) -> 1.8/255 = 0.007058824 with
/// zero point -128, kept by max pool and reshape; softmax output fixed at 1/256, -128;
/// log_softmax has no int8 kernel and reads a dequantized copy.
#[test]
fn quantize_int8_tiny_cnn() {
    use nnopt_passes::quantize_int8::{quantize_int8, Calibration, QuantizeOptions};
    let before = parse_graph(TINY_CNN).expect("parses");
    let sample = |v: [f64; 4]| {
        vec![Tensor::from_f64s(nnopt_compiler::ir::DType::F32, &[1, 2, 2, 1], &v).unwrap()]
    };
    let calib = Calibration::new(vec![
        sample([0.0, 0.25, 0.5, 1.0]),
        sample([-1.0, 0.0, 0.5, 0.75]),
    ]);
    let mut after = before.clone();
    let report = quantize_int8(&mut after, &calib, &QuantizeOptions::default()).expect("runs");
    verify(&after).expect("verifies");
    let opts = PrintOptions::default();
    insta::assert_snapshot!(format!(
        "before:\n{}\nafter (quantize-int8):\n{}\nreport:\n{report}",
        print_graph(&before, &opts),
        print_graph(&after, &opts)
    ));
    let x = sample([0.3, -0.7, 0.9, 0.1]);
    let (f, q) = (
        interp::run(&before, &x).unwrap(),
        interp::run(&after, &x).unwrap(),
    );
    for (a, b) in f.iter().zip(&q) {
        for (u, v) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
            assert!((u - v).abs() < 0.02, "float {u} vs int8 {v}");
        }
    }
    let mut again = after.clone();
    let report = quantize_int8(&mut again, &calib, &QuantizeOptions::default()).expect("runs");
    assert!(report.already_quantized);
    assert_eq!(print_graph(&again, &opts), print_graph(&after, &opts));
}

#[test]
fn quantize_int8_pass_from_a_pipeline_uses_synthetic_calibration() {
    let options: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("{method: mse, samples: 2, input_range: [-1.0, 1.0]}").unwrap();
    let pass = registry()
        .create("quantize-int8", &options)
        .expect("options parse");
    let mut g = parse_graph(TINY_CNN).expect("parses");
    assert!(pass.run(&mut g).expect("quantizes"));
    verify(&g).expect("verifies");
    assert!(print_graph(&g, &PrintOptions::default()).contains("quantize"));
    assert!(!pass.run(&mut g).expect("runs"), "already quantized");
    for bad in ["{method: median}", "{percentile: 20}", "{samples: 0}"] {
        let o: serde_yaml_ng::Value = serde_yaml_ng::from_str(bad).unwrap();
        assert!(registry().create("quantize-int8", &o).is_err(), "{bad}");
    }
}

#[test]
fn quantize_fp8_pipeline_options() {
    let run = |yaml: &str| {
        let spec = nnopt_compiler::pass::PipelineSpec::from_yaml(yaml).expect("yaml parses");
        nnopt_compiler::pass::Pipeline::from_spec(&spec, &registry()).map(|p| {
            let mut g = parse_graph(TINY_MLP).expect("parses");
            p.run(&mut g, &Default::default()).expect("runs");
            print_graph(&g, &PrintOptions::default())
        })
    };
    let weights_only = run(
        "passes: [{name: quantize-fp8, options: {format: e5m2, activations: false, samples: 2}}]",
    )
    .expect("valid options");
    assert!(weights_only.contains("f8e5m2[3,4]"), "{weights_only}");
    assert!(!weights_only.contains("quantize"), "{weights_only}");
    for bad in [
        "{format: e3m4}",
        "{activationz: true}",
        "{samples: 0}",
        "{input_range: [1, 0]}",
    ] {
        let yaml = format!("passes: [{{name: quantize-fp8, options: {bad}}}]");
        assert!(run(&yaml).is_err(), "{bad} accepted");
    }
}

const TINY_MLP: &str = r#"graph "tiny_mlp"(%x) {
  %x: f32[2,3] = input
  %w1: f32[3,4] = const [0.5, -1.0, 0.25, 2.0, -0.75, 0.125, 1.5, -0.5, 0.3, 0.6, -0.9, 1.2]
  %b1: f32[4] = const [0.1, -0.2, 0.3, 0.0]
  %h: f32[2,4] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":"relu"}(%x, %w1, %b1)
  %w2: f32[2,4] = const [1.0, -1.0, 0.5, 0.25, -2.0, 0.75, 0.1, 3.0]
  %y: f32[2,2] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":true,"activation":null}(%h, %w2)
  %s: f32[2,2] = softmax {"axis":1,"beta":1.0}(%y)
  return %s
}
"#;

/// Scales checked by hand: E4M3's largest value is 448, so a weight channel with
/// max |w| = 2 gets scale 2/448 = 0.004464286 and codes +-448 (0x7e = 126, 0xfe = 254);
/// w1 columns 0.75/448, 1/448, 1.5/448, 2/448 (axis 1); w2 rows 1/448 and 3/448 (axis 0
/// because of trans_b); the input range [-1, 1] gives 1/448 = 0.002232143; the hidden
/// value's calibrated amax (2.3 = 448 * 0.0051339) sets the second data scale. The relu
/// fuses into conv and gemm first; pool, reshape and softmax stay f32.
#[test]
fn quantize_fp8_tiny_cnn_and_mlp() {
    use nnopt_passes::quantize_int8::Calibration;
    let samples = |shape: &[usize], v: &[[f64; 4]]| {
        Calibration::new(
            v.iter()
                .map(|s| {
                    let n: usize = shape.iter().product();
                    let vals: Vec<f64> = s.iter().cycle().take(n).copied().collect();
                    vec![Tensor::from_f64s(nnopt_compiler::ir::DType::F32, shape, &vals).unwrap()]
                })
                .collect(),
        )
    };
    let opts = PrintOptions::default();
    let mut text = String::new();
    for (src, shape) in [
        (TINY_CNN, [1usize, 2, 2, 1].as_slice()),
        (TINY_MLP, &[2, 3]),
    ] {
        let before = parse_graph(src).expect("parses");
        let calib = samples(shape, &[[0.0, 0.25, 0.5, 1.0], [-1.0, 0.0, 0.5, 0.75]]);
        let mut after = before.clone();
        let report = quantize_fp8(&mut after, &calib, &Fp8Options::default()).expect("runs");
        verify(&after).expect("verifies");
        let printed = print_graph(&after, &opts);
        let reparsed = parse_graph(&printed).expect("FP8 IR text parses");
        assert_eq!(print_graph(&reparsed, &opts), printed, "text round trip");
        text += &format!(
            "before:\n{}\nafter (quantize-fp8):\n{}\nreport:\n{report}\n",
            print_graph(&before, &opts),
            print_graph(&after, &opts)
        );
        let x = samples(shape, &[[0.3, -0.7, 0.9, 0.1]]).samples.remove(0);
        let (f, q) = (
            interp::run(&before, &x).unwrap(),
            interp::run(&after, &x).unwrap(),
        );
        for (a, b) in f.iter().zip(&q) {
            for (u, v) in a.to_f64_vec().iter().zip(b.to_f64_vec()) {
                // E4M3 has 3 mantissa bits: relative error <= 2^-4 per operand.
                assert!(
                    (u - v).abs() < 0.08 * u.abs().max(0.5),
                    "float {u} vs fp8 {v}"
                );
            }
        }
    }
    insta::assert_snapshot!(text);
}

/// An int8 conv in QDQ form as nnopt's ONNX export writes an NHWC model: transposes
/// around the NCHW conv, dequantized int8 weights and int32 bias, a separate ReLU.
const QDQ_CONV: &str = r#"graph "qdq_conv"(%x) {
  %x: f32[1,2,2,1] = input
  %xq: i8[1,2,2,1] q(scale=[0.007843138], zp=[-1]) = quantize {"to":"i8"}(%x)
  %xd: f32[1,2,2,1] = dequantize(%xq)
  %xt: f32[1,1,2,2] = transpose {"perm":[0,3,1,2]}(%xd)
  %w: i8[2,1,1,1] q(scale=[0.003937008, 0.015748031], zp=[0, 0], axis=0) = const [127, -127]
  %wd: f32[2,1,1,1] = dequantize(%w)
  %b: i32[2] q(scale=[3.0878e-5, 1.2351e-4], zp=[0, 0], axis=0) = const [100, -1619]
  %bd: f32[2] = dequantize(%b)
  %c: f32[1,2,2,2] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%xt, %wd, %bd)
  %r: f32[1,2,2,2] = activation {"act":"relu"}(%c)
  %rt: f32[1,2,2,2] = transpose {"perm":[0,2,3,1]}(%r)
  %yq: i8[1,2,2,2] q(scale=[0.007058824], zp=[-128]) = quantize {"to":"i8"}(%rt)
  %y: f32[1,2,2,2] = dequantize(%yq)
  return %y
}
"#;

#[test]
fn qdq_fusion_makes_int8_ops() {
    let (before, after, text) = run_pass(&QdqFusion, QDQ_CONV);
    insta::assert_snapshot!(text);
    // The conv now reads and writes int8; the float transposes are gone.
    let ops: Vec<String> = after
        .node_indices()
        .into_iter()
        .map(|n| after.node(n).op.name().to_string())
        .collect();
    assert!(!ops.iter().any(|o| o == "activation"), "{ops:?}");
    let conv = after
        .node_indices()
        .into_iter()
        .find(|&n| after.node(n).op.name() == "conv")
        .unwrap();
    assert_eq!(
        after.node(conv).outputs[0].ty.dtype,
        nnopt_compiler::ir::DType::I8
    );
    // Integer requantization and the float QDQ graph agree within one output step.
    for seed in 0..5u64 {
        let v: Vec<f64> = (0..4)
            .map(|i| (((seed * 4 + i) * 37 % 17) as f64 - 8.0) / 8.0)
            .collect();
        let x = vec![Tensor::from_f64s(nnopt_compiler::ir::DType::F32, &[1, 2, 2, 1], &v).unwrap()];
        let (a, b) = (
            interp::run(&before, &x).unwrap(),
            interp::run(&after, &x).unwrap(),
        );
        for (u, w) in a[0].to_f64_vec().iter().zip(b[0].to_f64_vec()) {
            assert!((u - w).abs() <= 0.00706 * 1.01, "{u} vs {w}");
        }
    }
    // A graph without dequantizes is left alone.
    let mut plain = parse_graph(CONV_BN).unwrap();
    assert!(!QdqFusion.run(&mut plain).unwrap());
}

/// A binary MLP: ±1 weights (binarized constants) and one layer of 3 binary neurons.
const TINY_BNN: &str = r#"graph "tiny_bnn"(%x) {
  %x: f32[1,4] = input
  %w1: f32[4,3] = const [0.5, -0.2, 0.1, -0.7, 0.3, 0.9, 0.2, -0.4, -0.6, 0.8, 0.05, -0.3]
  %w1_pm1: f32[4,3] = activation {"act":"binarize"}(%w1)
  %b1: f32[3] = const [0.0, 0.5, -0.5]
  %fc1: f32[1,3] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%x, %w1_pm1, %b1)
  %h1: f32[1,3] = activation {"act":"binarize"}(%fc1)
  %wo: f32[3,2] = const [1.0, -1.0, 0.5, 0.5, -0.25, 2.0]
  %bo: f32[2] = const [0.0, 0.0]
  %y: f32[1,2] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%h1, %wo, %bo)
  return %y
}
"#;

#[test]
fn noise_analysis_keeps_the_graph_and_reports_the_bounds() {
    let pass = NoiseAnalysis::new(NoiseOptions {
        flip_prob: 0.25,
        ..NoiseOptions::default()
    })
    .expect("valid options");
    let (before, after, text) = run_pass(&pass, TINY_BNN);
    assert_eq!(
        print_graph(&before, &PrintOptions::default()),
        print_graph(&after, &PrintOptions::default())
    );
    let stats = pass.stats().expect("the pass reports");
    insta::assert_snapshot!(format!("{text}\nstats:\n{}", stats.text));
    // One layer of 3 neurons, eta = 0.25: 1 - 0.75^3; the weight binarizer is not noisy.
    let layers = stats.json["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["node"], "h1");
    let want = 1.0 - 0.75f64.powi(3);
    assert!((stats.json["percolation_bound"].as_f64().unwrap() - want).abs() < 1e-12);
    assert!((stats.json["evans_schulman"].as_f64().unwrap() - 0.75).abs() < 1e-12);
    assert_eq!(stats.json["classes"], 2);
}

#[test]
fn noise_analysis_refuses_what_its_bounds_do_not_cover() {
    let analyze = |src: &str, flip_prob: f64| {
        let g = parse_graph(src).expect("test IR parses");
        let opts = NoiseOptions {
            flip_prob,
            ..NoiseOptions::default()
        };
        analyze_noise(&g, &opts)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(analyze(TINY_BNN, 0.6).contains("[0, 0.5]"));
    let float = TINY_BNN.replace(r#"{"act":"binarize"}(%fc1)"#, r#"{"act":"relu"}(%fc1)"#);
    assert!(
        analyze(&float, 0.1).contains("no binary neurons"),
        "{}",
        analyze(&float, 0.1)
    );
    // A skip connection around the binary layer.
    let skip = TINY_BNN
        .replace(
            "  %y: f32[1,2] = gemm",
            "  %ws: f32[4,2] = const [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]\n  %s: f32[1,2] = mat_mul(%x, %ws)\n  %y0: f32[1,2] = gemm",
        )
        .replace(
            "  return %y",
            "  %y: f32[1,2] = binary {\"kind\":\"add\",\"activation\":null}(%y0, %s)\n  return %y",
        );
    let e = analyze(&skip, 0.1);
    assert!(e.contains("h1") && e.contains("bypasses"), "{e}");
}
