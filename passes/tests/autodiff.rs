//! The autodiff pass: the training graph of small models prints (snapshot), its gradients
//! match central finite differences of its own loss, repeated steps lower the loss, and
//! fresh weights follow each layer's fans and activation.

use nnopt_compiler::interp;
use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::{DType, Tensor};
use nnopt_passes::{training_graph, InitScheme, TrainPrecision, TrainingGraph};
use rand::SeedableRng;

const MLP: &str = r#"graph "mlp"(%x) {
  %x: f32[4,3] = input
  %w1: f32[3,5] = const [0.5, -1.0, 0.25, 2.0, -0.75, 0.125, 1.5, -0.5, 0.3, 0.6, -0.9, 1.2, 0.2, -0.4, 0.8]
  %b1: f32[5] = const [0.1, -0.2, 0.3, 0.0, 0.05]
  %h: f32[4,5] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":"relu"}(%x, %w1, %b1)
  %w2: f32[2,5] = const [1.0, -1.0, 0.5, 0.25, -0.3, -2.0, 0.75, 0.1, 0.3, 0.4]
  %y: f32[4,2] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":true,"activation":null}(%h, %w2)
  %p: f32[4,2] = softmax {"axis":1,"beta":1.0}(%y)
  return %p
}
"#;

const CNN: &str = r#"graph "cnn"(%x) {
  %x: f32[2,2,5,5] = input
  %w: f32[3,2,3,3] = const [0.1, -0.2, 0.3, 0.05, -0.15, 0.25, -0.3, 0.2, 0.1, 0.0, 0.12, -0.22, 0.31, 0.07, -0.11, 0.21, -0.09, 0.18, 0.14, -0.06, 0.27, -0.19, 0.08, 0.16, -0.24, 0.03, 0.11, -0.13, 0.22, 0.09, -0.17, 0.26, 0.04, -0.08, 0.19, -0.21, 0.15, 0.02, -0.12, 0.23, -0.05, 0.13, 0.28, -0.16, 0.06, 0.17, -0.25, 0.01, 0.2, -0.1, 0.24, -0.02, 0.09, -0.18]
  %b: f32[3] = const [0.05, -0.1, 0.02]
  %c: f32[2,3,3,3] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%x, %w, %b)
  %t: f32[2,3,3,3] = activation {"act":"tanh"}(%c)
  %q: f32[2,3,2,2] = pool {"kind":"avg","layout":"nchw","kernel":[2,2],"strides":[1,1],"pads":[0,0,0,0],"count_include_pad":false,"activation":null}(%t)
  %m: f32[2,3,1,1] = reduce {"kind":"mean","axes":[2,3],"keep_dims":true}(%q)
  %f: f32[2,3] = reshape {"shape":[2,3]}(%m)
  %wf: f32[3,4] = const [0.3, -0.2, 0.5, 0.1, -0.4, 0.25, 0.15, -0.35, 0.2, 0.45, -0.1, 0.05]
  %y: f32[2,4] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%f, %wf)
  return %y
}
"#;

fn ramp(shape: &[usize], seed: usize) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|i| (((i + seed) * 7 % 13) as f64 - 6.0) / 6.0)
        .collect();
    Tensor::from_f64s(DType::F32, shape, &v).unwrap()
}

fn labels(v: &[i64]) -> Tensor {
    Tensor::from_f64s(
        DType::I64,
        &[v.len()],
        &v.iter().map(|&k| k as f64).collect::<Vec<_>>(),
    )
    .unwrap()
}

type Values = Vec<f64>;

/// Runs one step: returns the loss and the training graph's outputs (the loss, then the
/// gradients).
fn step(t: &TrainingGraph, x: &Tensor, y: &Tensor, params: &[Tensor]) -> (f64, Vec<Tensor>) {
    let mut inputs = vec![x.clone(), y.clone()];
    inputs.extend(params.iter().cloned());
    let out = interp::run(&t.graph, &inputs).expect("training step runs");
    (out[0].to_f64_vec()[0], out)
}

#[test]
fn mlp_training_graph_snapshot_and_loss_decreases() {
    let forward = parse_graph(MLP).unwrap();
    let t = training_graph(&forward, TrainPrecision::Fp32).unwrap();
    insta::assert_snapshot!(print_graph(&t.graph, &PrintOptions::default()));
    let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["w1", "b1", "w2"]);
    let (x, y) = (ramp(&[4, 3], 0), labels(&[0, 1, 1, 0]));
    let mut params: Vec<Values> = t.params.iter().map(|p| p.init.to_f64_vec()).collect();
    let mut velocity: Vec<Values> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let tensors = |ps: &[Values]| -> Vec<Tensor> {
        ps.iter()
            .zip(&t.params)
            .map(|(v, p)| Tensor::from_f64s(DType::F32, &p.shape, v).unwrap())
            .collect()
    };
    let (first, _) = step(&t, &x, &y, &tensors(&params));
    let mut last = first;
    // Gradient descent with momentum: v = 0.9 v + g, p -= 0.5 v.
    for _ in 0..30 {
        let (loss, out) = step(&t, &x, &y, &tensors(&params));
        for ((p, v), g) in params.iter_mut().zip(&mut velocity).zip(&out[1..]) {
            for ((p, v), g) in p.iter_mut().zip(v.iter_mut()).zip(g.to_f64_vec()) {
                *v = 0.9 * *v + g;
                *p -= 0.5 * *v;
            }
        }
        last = loss;
    }
    assert!(last < 0.2 * first, "loss {first} -> {last}");
}

/// Asserts that each gradient output of `forward`'s training step equals the central
/// finite difference of the loss.
fn assert_gradients_match_finite_differences(forward: &str, x: Tensor, y: Tensor) {
    let forward = parse_graph(forward).unwrap();
    let t = training_graph(&forward, TrainPrecision::Fp32).unwrap();
    let params: Vec<Tensor> = t.params.iter().map(|p| p.init.clone()).collect();
    let (_, out) = step(&t, &x, &y, &params);
    let h = 1e-2;
    for (k, p) in params.iter().enumerate() {
        let before = p.to_f64_vec();
        let grad = out[1 + k].to_f64_vec();
        let scale = grad.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        for i in 0..before.len() {
            let loss_at = |delta: f64| {
                let mut v = before.clone();
                v[i] += delta;
                let mut ps = params.clone();
                ps[k] = Tensor::from_f64s(DType::F32, p.shape(), &v).unwrap();
                step(&t, &x, &y, &ps).0
            };
            let fd = (loss_at(h) - loss_at(-h)) / (2.0 * h);
            assert!(
                (fd - grad[i]).abs() <= 1e-2 * scale,
                "{}[{i}]: backward {} vs finite difference {fd}",
                t.params[k].name,
                grad[i]
            );
        }
    }
}

/// Average pooling keeps the loss smooth for f32 finite differences; max pooling's
/// gradient is checked against float64 in `compiler/tests/grad_check.rs`.
#[test]
fn cnn_gradients_match_finite_differences_of_the_loss() {
    assert_gradients_match_finite_differences(CNN, ramp(&[2, 2, 5, 5], 3), labels(&[1, 3]));
}

/// A matmul-and-add classifier (as ONNX exporters write dense layers).
#[test]
fn matmul_gradients_match_finite_differences_of_the_loss() {
    const MATMUL: &str = r#"graph "dense"(%x) {
  %x: f32[3,4] = input
  %w: f32[4,3] = const [0.5, -1.0, 0.25, 2.0, -0.75, 0.125, 1.5, -0.5, 0.3, 0.6, -0.9, 1.2]
  %m: f32[3,3] = mat_mul(%x, %w)
  %b: f32[3] = const [0.1, -0.2, 0.3]
  %y: f32[3,3] = binary {"kind":"add","activation":null}(%m, %b)
  return %y
}
"#;
    let forward = parse_graph(MATMUL).unwrap();
    let t = training_graph(&forward, TrainPrecision::Fp32).unwrap();
    let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["w", "b"],
        "the matmul's weight and bias are trained"
    );
    assert_gradients_match_finite_differences(MATMUL, ramp(&[3, 4], 1), labels(&[2, 0, 1]));
}

/// FP8 training: E4M3 fake-quantizers on the data and weights of each gemm and E5M2 on
/// the output gradient entering its backward ops, one scale input and one amax output
/// each. With every scale 0 (no amax known yet) the step equals the FP32 step bit for
/// bit; with scales, the amax outputs are the largest magnitudes of the quantized
/// tensors and the step changes.
#[test]
fn fp8_training_graph_snapshot_and_semantics() {
    let forward = parse_graph(MLP).unwrap();
    let fp8 = training_graph(&forward, TrainPrecision::Fp8).unwrap();
    let fp32 = training_graph(&forward, TrainPrecision::Fp32).unwrap();
    insta::assert_snapshot!(print_graph(&fp8.graph, &PrintOptions::default()));
    let roles: Vec<String> = fp8
        .quant_points
        .iter()
        .map(|q| format!("{} {:?} {}", q.name, q.role, q.format.name()))
        .collect();
    insta::assert_snapshot!(roles.join("\n"));
    let (x, y) = (ramp(&[4, 3], 0), labels(&[0, 1, 1, 0]));
    let params: Vec<Tensor> = fp8.params.iter().map(|p| p.init.clone()).collect();
    let mut inputs = vec![x, y];
    inputs.extend(params.iter().cloned());
    let reference = interp::run(&fp32.graph, &inputs).unwrap();
    let scalar = |v: f64| Tensor::from_f64s(DType::F32, &[], &[v]).unwrap();
    let run = |scale: f64| {
        let mut i = inputs.clone();
        i.extend(fp8.quant_points.iter().map(|_| scalar(scale)));
        interp::run(&fp8.graph, &i).unwrap()
    };
    let k = reference.len();
    let off = run(0.0);
    assert_eq!(off.len(), k + fp8.quant_points.len());
    for (a, b) in off[..k].iter().zip(&reference) {
        let bits = |t: &Tensor| {
            t.to_f64_vec()
                .iter()
                .map(|v| (*v as f32).to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(a), bits(b), "pass-through differs from FP32");
    }
    // The weights' amaxes are their largest magnitudes.
    for (q, amax) in fp8.quant_points.iter().zip(&off[k..]) {
        if let Some(p) = fp8.params.iter().position(|p| p.name == q.name) {
            let want = params[p]
                .to_f64_vec()
                .iter()
                .fold(0f64, |m, v| m.max(v.abs()));
            assert_eq!(amax.to_f64_vec(), [want], "{}", q.name);
        }
    }
    // A coarse scale (1/8) quantizes visibly.
    let on = run(0.125);
    assert_ne!(
        on[0].to_f64_vec(),
        reference[0].to_f64_vec(),
        "loss unchanged"
    );
}

/// Fresh weights: He-uniform bounds follow each weight's fan-in (per group, kernel
/// included) and the gain of the activation after its layer (√2 after a ReLU or a
/// ReLU6, 1 for the logits); Glorot bounds follow fan-in plus fan-out; biases are zero.
#[test]
fn fresh_weights_follow_fans_and_activation_gain() {
    const NET: &str = r#"graph "net"(%x) {
  %x: f32[1,8,8,3] = input
  %w: f32[16,3,3,3] = const zeros
  %b: f32[16] = const zeros
  %c: f32[1,8,8,16] = conv {"layout":"nhwc","strides":[1,1],"dilations":[1,1],"pads":[1,1,1,1],"group":1,"activation":"relu"}(%x, %w, %b)
  %dw: f32[16,3,3,1] = const zeros
  %d: f32[1,8,8,16] = conv {"layout":"nhwc","strides":[1,1],"dilations":[1,1],"pads":[1,1,1,1],"group":16,"activation":"relu6"}(%c, %dw)
  %m: f32[1,16] = reduce {"kind":"mean","axes":[1,2],"keep_dims":false}(%d)
  %wf: f32[10,16] = const zeros
  %y: f32[1,10] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":true,"activation":null}(%m, %wf)
  return %y
}
"#;
    // Each `const zeros` becomes a list of zeros of its type's size.
    let text: String = NET
        .lines()
        .map(|line| match line.split_once(": f32[") {
            Some((_, rest)) if line.ends_with("const zeros") => {
                let dims = rest.split(']').next().unwrap();
                let n: usize = dims
                    .split(',')
                    .map(|d| d.parse::<usize>().unwrap())
                    .product();
                line.replace("zeros", &format!("[{}]", vec!["0.0"; n].join(", "))) + "\n"
            }
            _ => format!("{line}\n"),
        })
        .collect();
    let forward = parse_graph(&text).unwrap();
    let t = training_graph(&forward, TrainPrecision::Fp32).unwrap();
    let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["w", "b", "dw", "wf"]);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    let bound = |scheme, k: usize, rng: &mut rand::rngs::Xoshiro256PlusPlus| {
        let v = t.params[k].fresh(scheme, rng).to_f64_vec();
        v.iter().fold(0f64, |m, x| m.max(x.abs()))
    };
    let he = |fan_in: f64, gain: f64| gain * (3.0 / fan_in).sqrt();
    let s2 = std::f64::consts::SQRT_2;
    for (k, limit) in [(0, he(27.0, s2)), (2, he(9.0, s2)), (3, he(16.0, 1.0))] {
        let got = bound(InitScheme::He, k, &mut rng);
        assert!(
            got <= limit && got > 0.9 * limit,
            "{}: largest {got}, bound {limit}",
            names[k]
        );
    }
    // Glorot: the conv's fan-out is 16 channels times the 3x3 kernel.
    let glorot = (6.0f64 / (27.0 + 144.0)).sqrt();
    let got = bound(InitScheme::Glorot, 0, &mut rng);
    assert!(got <= glorot && got > 0.9 * glorot, "{got} vs {glorot}");
    assert_eq!(
        bound(InitScheme::He, 1, &mut rng),
        0.0,
        "biases start at zero"
    );
}
