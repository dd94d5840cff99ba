//! The autodiff pass: the training graph of small models prints (snapshot), its gradients
//! match central finite differences of its own loss, and repeated steps lower the loss.

use nnopt_compiler::interp;
use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::{DType, Tensor};
use nnopt_passes::{training_graph, TrainOptions, TrainPrecision, TrainingGraph};

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

/// Runs one step: returns the loss and the training graph's outputs.
fn step(
    t: &TrainingGraph,
    x: &Tensor,
    y: &Tensor,
    params: &[Tensor],
    momenta: &[Tensor],
) -> (f64, Vec<Tensor>) {
    let mut inputs = vec![x.clone(), y.clone()];
    inputs.extend(params.iter().cloned());
    inputs.extend(momenta.iter().cloned());
    let out = interp::run(&t.graph, &inputs).expect("training step runs");
    (out[0].to_f64_vec()[0], out)
}

#[test]
fn mlp_training_graph_snapshot_and_loss_decreases() {
    let forward = parse_graph(MLP).unwrap();
    let t = training_graph(
        &forward,
        &TrainOptions {
            learning_rate: 0.5,
            momentum: 0.9,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )
    .unwrap();
    insta::assert_snapshot!(print_graph(&t.graph, &PrintOptions::default()));
    let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["w1", "b1", "w2"]);
    let (x, y) = (ramp(&[4, 3], 0), labels(&[0, 1, 1, 0]));
    let mut params: Vec<Tensor> = t.params.iter().map(|p| p.init.clone()).collect();
    let mut momenta: Vec<Tensor> = t
        .params
        .iter()
        .map(|p| Tensor::zeros(DType::F32, &p.shape))
        .collect();
    let k = params.len();
    let (first, _) = step(&t, &x, &y, &params, &momenta);
    let mut last = first;
    for _ in 0..30 {
        let (loss, out) = step(&t, &x, &y, &params, &momenta);
        params = out[1..1 + k].to_vec();
        momenta = out[1 + k..].to_vec();
        last = loss;
    }
    assert!(last < 0.2 * first, "loss {first} -> {last}");
}

/// Asserts that one SGD step of `forward` (learning rate 1, no momentum or decay, so
/// `p' = p - g`) moves each parameter by the central finite difference of the loss.
fn assert_gradients_match_finite_differences(forward: &str, x: Tensor, y: Tensor) {
    let forward = parse_graph(forward).unwrap();
    let t = training_graph(
        &forward,
        &TrainOptions {
            learning_rate: 1.0,
            momentum: 0.0,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    let params: Vec<Tensor> = t.params.iter().map(|p| p.init.clone()).collect();
    let momenta: Vec<Tensor> = t
        .params
        .iter()
        .map(|p| Tensor::zeros(DType::F32, &p.shape))
        .collect();
    let (_, out) = step(&t, &x, &y, &params, &momenta);
    let h = 1e-2;
    for (k, p) in params.iter().enumerate() {
        let before = p.to_f64_vec();
        let after = out[1 + k].to_f64_vec();
        let grad: Vec<f64> = before.iter().zip(&after).map(|(a, b)| a - b).collect();
        let scale = grad.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        for i in 0..before.len() {
            let loss_at = |delta: f64| {
                let mut v = before.clone();
                v[i] += delta;
                let mut ps = params.clone();
                ps[k] = Tensor::from_f64s(DType::F32, p.shape(), &v).unwrap();
                step(&t, &x, &y, &ps, &momenta).0
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
    let t = training_graph(&forward, &TrainOptions::default()).unwrap();
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
    let opts = |precision| TrainOptions {
        learning_rate: 0.5,
        precision,
        ..Default::default()
    };
    let fp8 = training_graph(&forward, &opts(TrainPrecision::Fp8)).unwrap();
    let fp32 = training_graph(&forward, &opts(TrainPrecision::Fp32)).unwrap();
    insta::assert_snapshot!(print_graph(&fp8.graph, &PrintOptions::default()));
    let roles: Vec<String> = fp8
        .quant_points
        .iter()
        .map(|q| format!("{} {:?} {}", q.name, q.role, q.format.name()))
        .collect();
    insta::assert_snapshot!(roles.join("\n"));
    let (x, y) = (ramp(&[4, 3], 0), labels(&[0, 1, 1, 0]));
    let params: Vec<Tensor> = fp8.params.iter().map(|p| p.init.clone()).collect();
    let momenta: Vec<Tensor> = fp8
        .params
        .iter()
        .map(|p| Tensor::zeros(DType::F32, &p.shape))
        .collect();
    let mut inputs = vec![x, y];
    inputs.extend(params.iter().cloned());
    inputs.extend(momenta.iter().cloned());
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
