//! `egraph-optimize`: one test per rule family (snapshots of the IR before and after and
//! of the statistics, plus equal interpreter outputs), property tests on random graphs,
//! and every test model before and after.

use nnopt_compiler::interp;
use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::{verify, DType, Graph, Tensor};
use nnopt_compiler::pass::Pass;
use nnopt_passes::{EGraphOptimize, EGraphStats};

fn ramp(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0).collect();
    Tensor::from_f64s(DType::F32, shape, &v).expect("shape matches")
}

/// Max relative difference of two output lists (relative to the largest magnitude).
fn max_rel_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
    assert_eq!(a.len(), b.len(), "output counts differ");
    let mut worst = 0f64;
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.shape(), y.shape(), "output shapes differ");
        let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
        let scale = x.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
        let err = x
            .iter()
            .zip(&y)
            .fold(0f64, |m, (p, q)| m.max((p - q).abs()));
        worst = worst.max(err / scale);
    }
    worst
}

/// Runs the pass on IR text; checks the result verifies and computes the same outputs
/// on ramp inputs. Returns the graph after, the snapshot text and the statistics.
fn optimize(src: &str) -> (Graph, String, EGraphStats) {
    let before = parse_graph(src).expect("test IR parses");
    verify(&before).expect("test IR verifies");
    let pass = EGraphOptimize::with_defaults();
    let mut after = before.clone();
    pass.run(&mut after).expect("pass runs");
    verify(&after).expect("pass output verifies");
    let inputs: Vec<Tensor> = before
        .inputs()
        .iter()
        .map(|&n| ramp(&before.node(n).outputs[0].ty.shape))
        .collect();
    let (ra, rb) = (
        interp::run(&before, &inputs).expect("before runs"),
        interp::run(&after, &inputs).expect("after runs"),
    );
    let diff = max_rel_diff(&ra, &rb);
    assert!(diff <= 1e-5, "outputs differ by {diff}");
    let stats = pass.last_stats().expect("stats after a run");
    let opts = PrintOptions::default();
    let text = format!(
        "before:\n{}\nafter:\n{}\nstats:\n{}",
        print_graph(&before, &opts),
        print_graph(&after, &opts),
        stats.to_text()
    );
    (after, text, stats)
}

fn ops(g: &Graph) -> Vec<String> {
    let order = g.topo_order().expect("acyclic");
    order
        .into_iter()
        .map(|n| g.node(n).op.detailed_name())
        .filter(|n| n != "input" && n != "const")
        .collect()
}

fn fired(stats: &EGraphStats, rule: &str) -> bool {
    stats.rule_hits.get(rule).is_some_and(|&n| n > 0)
}

const ALGEBRA: &str = r#"graph "algebra"(%x) {
  %x: f32[1,4] = input
  %one: f32[4] = const [1.0, 1.0, 1.0, 1.0]
  %zero: f32[1] = const [0.0]
  %half: f32[1] = const [0.5]
  %quarter: f32[1] = const [0.25]
  %two: f32[1] = const [2.0]
  %three: f32[1] = const [3.0]
  %a: f32[1,4] = binary {"kind":"mul","activation":null}(%x, %one)
  %b: f32[1,4] = binary {"kind":"add","activation":null}(%zero, %a)
  %c: f32[1,4] = binary {"kind":"sub","activation":null}(%b, %half)
  %d: f32[1,4] = binary {"kind":"add","activation":null}(%c, %quarter)
  %e: f32[1,4] = binary {"kind":"div","activation":null}(%d, %two)
  %f: f32[1,4] = binary {"kind":"mul","activation":null}(%e, %three)
  %g: f32[1,4] = identity(%f)
  return %g
}
"#;

#[test]
fn algebra_identities_and_consecutive_scalings() {
    let (after, text, stats) = optimize(ALGEBRA);
    insta::assert_snapshot!(text);
    // One scaling and one shift are left of seven ops.
    let mut left = ops(&after);
    left.sort();
    assert_eq!(left, ["binary.add", "binary.mul"]);
    for rule in ["neutral-element", "combine-consts", "identity-op"] {
        assert!(fired(&stats, rule), "{rule} did not fire: {stats:?}");
    }
    assert!(stats.cost_after < stats.cost_before);
}

const LAYOUT: &str = r#"graph "layout"(%x, %y) {
  %x: f32[1,2,3,4] = input
  %y: f32[1,2,3,4] = input
  %t1: f32[1,3,4,2] = transpose {"perm":[0,2,3,1]}(%x)
  %r: f32[1,3,4,2] = activation {"act":"sigmoid"}(%t1)
  %t2: f32[1,2,3,4] = transpose {"perm":[0,3,1,2]}(%r)
  %s1: f32[1,24] = reshape {"shape":[1,24]}(%t2)
  %s2: f32[2,12] = reshape {"shape":[2,12]}(%s1)
  %s3: f32[1,2,3,4] = reshape {"shape":[1,2,3,4]}(%s2)
  %u1: f32[1,3,4,2] = transpose {"perm":[0,2,3,1]}(%s3)
  %u2: f32[1,3,4,2] = transpose {"perm":[0,2,3,1]}(%y)
  %sum: f32[1,3,4,2] = binary {"kind":"add","activation":null}(%u1, %u2)
  %back: f32[1,2,3,4] = transpose {"perm":[0,3,1,2]}(%sum)
  return %back
}
"#;

#[test]
fn layout_transposes_cancel_and_reshape_chains_collapse() {
    let (after, text, stats) = optimize(LAYOUT);
    insta::assert_snapshot!(text);
    // Every transpose and reshape cancels: sigmoid(x) + y.
    assert_eq!(ops(&after), ["activation.sigmoid", "binary.add"]);
    for rule in [
        "transpose-pair",
        "reshape-chain",
        "transpose-through-unary",
        "transpose-through-binary",
    ] {
        assert!(fired(&stats, rule), "{rule} did not fire: {stats:?}");
    }
}

const BATCHNORM: &str = r#"graph "batchnorm"(%x, %v) {
  %x: f32[1,2,3,3] = input
  %v: f32[2,3] = input
  %w: f32[2,2,1,1] = const [1.0, 0.5, -1.0, 2.0]
  %b: f32[2] = const [0.25, -0.5]
  %gamma: f32[2] = const [3.0, 1.5]
  %beta: f32[2] = const [0.1, 0.2]
  %mean: f32[2] = const [0.3, -0.4]
  %var: f32[2] = const [4.0, 0.25]
  %c: f32[1,2,3,3] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%x, %w, %b)
  %bn: f32[1,2,3,3] = batch_norm {"epsilon":0.001,"axis":1}(%c, %gamma, %beta, %mean, %var)
  %scale: f32[2,1,1] = const [2.0, -1.0]
  %scaled: f32[1,2,3,3] = binary {"kind":"mul","activation":null}(%bn, %scale)
  %shift: f32[1] = const [0.5]
  %y: f32[1,2,3,3] = binary {"kind":"add","activation":null}(%scaled, %shift)
  %gw: f32[3,2] = const [1.0, 0.5, -1.0, 2.0, 0.0, 1.5]
  %m: f32[2,2] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":false,"activation":null}(%v, %gw)
  %z: f32[2,2] = batch_norm {"epsilon":0.0,"axis":1}(%m, %gamma, %beta, %mean, %var)
  return %y, %z
}
"#;

#[test]
fn batchnorm_and_constant_scale_shift_fold_into_conv_and_gemm() {
    let (after, text, stats) = optimize(BATCHNORM);
    insta::assert_snapshot!(text);
    let mut left = ops(&after);
    left.sort();
    assert_eq!(left, ["conv", "gemm"]);
    for rule in [
        "batchnorm-to-affine",
        "scale-into-weights",
        "shift-into-bias",
    ] {
        assert!(fired(&stats, rule), "{rule} did not fire: {stats:?}");
    }
}

const PAD: &str = r#"graph "pad"(%x) {
  %x: f32[1,1,3,3] = input
  %w: f32[1,1,3,3] = const [1.0, 0.0, -1.0, 2.0, 0.5, -2.0, 1.0, 0.0, -1.0]
  %p: f32[1,1,5,6] = pad {"pads":[[0,0],[0,0],[1,1],[1,2]],"mode":"constant","value":0.0}(%x)
  %c: f32[1,1,3,4] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%p, %w)
  %q: f32[1,1,5,5] = pad {"pads":[[0,0],[0,0],[1,1],[1,1]],"mode":"edge","value":0.0}(%x)
  %d: f32[1,1,3,3] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%q, %w)
  return %c, %d
}
"#;

#[test]
fn zero_pad_folds_into_conv_padding_edge_pad_stays() {
    let (after, text, stats) = optimize(PAD);
    insta::assert_snapshot!(text);
    assert_eq!(ops(&after), ["conv", "pad", "conv"]);
    assert_eq!(stats.rule_hits.get("pad-into-conv"), Some(&1));
}

const ACTIVATION: &str = r#"graph "activation"(%x, %r) {
  %x: f32[1,2,3,3] = input
  %r: f32[1,2,3,3] = input
  %w: f32[2,2,1,1] = const [1.0, 0.5, -1.0, 2.0]
  %c: f32[1,2,3,3] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":null}(%x, %w)
  %a: f32[1,2,3,3] = activation {"act":"relu"}(%c)
  %b: f32[1,2,3,3] = activation {"act":{"clip":{"min":-1.0,"max":4.0}}}(%a)
  %res: f32[1,2,3,3] = binary {"kind":"add","activation":null}(%b, %r)
  %y: f32[1,2,3,3] = activation {"act":"relu6"}(%res)
  return %y
}
"#;

#[test]
fn clamps_fuse_and_merge_including_the_residual_add() {
    let (after, text, stats) = optimize(ACTIVATION);
    insta::assert_snapshot!(text);
    assert_eq!(ops(&after), ["conv", "binary.add"]);
    let fused: Vec<String> = after
        .node_indices()
        .into_iter()
        .filter_map(|n| after.node(n).op.fused_activation())
        .map(|a| format!("{a:?}"))
        .collect();
    assert_eq!(fused, ["Clip { min: 0.0, max: 4.0 }", "Relu6"]);
    assert!(fired(&stats, "fuse-activation"));
}

const CONCAT: &str = r#"graph "concat"(%x, %y) {
  %x: f32[1,4,2] = input
  %y: f32[1,2,2] = input
  %s0: f32[1,1,2], %s1: f32[1,3,2] = split {"axis":1,"sizes":[1,3]}(%x) @"s"
  %back: f32[1,4,2] = concat {"axis":1}(%s0, %s1)
  %inner: f32[1,6,2] = concat {"axis":1}(%back, %y)
  %outer: f32[1,8,2] = concat {"axis":1}(%y, %inner)
  %one: f32[1,8,2] = concat {"axis":1}(%outer)
  %p0: f32[1,4,2], %p1: f32[1,2,2] = split {"axis":1,"sizes":[4,2]}(%inner) @"p"
  %sum: f32[1,2,2] = binary {"kind":"add","activation":null}(%p1, %y)
  return %one, %sum
}
"#;

#[test]
fn concat_and_split_canonicalize() {
    let (after, text, stats) = optimize(CONCAT);
    insta::assert_snapshot!(text);
    assert_eq!(ops(&after), ["concat", "binary.add"]);
    for rule in [
        "split-then-concat",
        "concat-flatten",
        "concat-single",
        "concat-then-split",
    ] {
        assert!(fired(&stats, rule), "{rule} did not fire: {stats:?}");
    }
}

const FOLDABLE: &str = r#"graph "folding"(%x) {
  %x: f32[2,2] = input
  %k: f32[2,2] = const [1.0, 2.0, 3.0, 4.0]
  %kt: f32[2,2] = transpose {"perm":[1,0]}(%k)
  %k2: f32[2,2] = binary {"kind":"mul","activation":null}(%kt, %kt)
  %y: f32[2,2] = binary {"kind":"add","activation":null}(%x, %k2)
  return %y
}
"#;

#[test]
fn constant_subexpressions_fold_in_the_analysis() {
    let (after, _, _) = optimize(FOLDABLE);
    assert_eq!(ops(&after), ["binary.add"]);
}

const NOTHING: &str = r#"graph "nothing"(%x) {
  %x: f32[1,4] = input
  %y: f32[1,4] = activation {"act":"tanh"}(%x)
  return %y
}
"#;

#[test]
fn nothing_to_do_keeps_the_graph() {
    let before = parse_graph(NOTHING).expect("parses");
    let mut g = before.clone();
    let pass = EGraphOptimize::with_defaults();
    assert!(!pass.run(&mut g).expect("runs"));
    let opts = PrintOptions::default();
    assert_eq!(print_graph(&g, &opts), print_graph(&before, &opts));
    let stats = pass.last_stats().expect("stats");
    assert_eq!(stats.stop_reason, "saturated");
    assert!(stats.kept_original);
}

#[test]
fn deterministic() {
    let run = || {
        let mut g = parse_graph(BATCHNORM).expect("parses");
        EGraphOptimize::with_defaults().run(&mut g).expect("runs");
        print_graph(&g, &PrintOptions::default())
    };
    assert_eq!(run(), run());
}
