//! Property test of `egraph-optimize`: on random small graphs built from the structures
//! its rules target (convs with batch norms, pads, constant scales and shifts, clamps,
//! transposes around elementwise ops, reshape chains, split/concat pairs, residual adds),
//! the interpreter gives the same outputs before and after (1e-5 relative, f32).

use nnopt_compiler::interp;
use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::{verify, DType, Tensor};
use nnopt_compiler::pass::Pass;
use nnopt_passes::EGraphOptimize;
use proptest::prelude::*;
use std::fmt::Write;

/// Writes IR text for a chain of `steps` over an input of shape [1, c, h, w]; every
/// step keeps that shape. `params` supplies the constants (cycled).
struct Builder<'a> {
    c: usize,
    h: usize,
    w: usize,
    text: String,
    params: &'a [f32],
    next_param: usize,
    count: usize,
    values: Vec<String>,
}

impl Builder<'_> {
    fn param(&mut self) -> f32 {
        let v = self.params[self.next_param % self.params.len()];
        self.next_param += 1;
        v
    }

    fn fresh(&mut self, base: &str) -> String {
        self.count += 1;
        format!("{base}{}", self.count)
    }

    fn konst(&mut self, shape: &[usize], positive: bool) -> String {
        let n: usize = shape.iter().product();
        let vals: Vec<String> = (0..n)
            .map(|_| {
                let v = self.param();
                let v = if positive { 0.25 + v.abs() } else { v };
                format!("{v:?}")
            })
            .collect();
        let name = self.fresh("k");
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        writeln!(
            self.text,
            "  %{name}: f32[{}] = const [{}]",
            dims.join(","),
            vals.join(", ")
        )
        .unwrap();
        name
    }

    fn shape(&self) -> String {
        format!("f32[1,{},{},{}]", self.c, self.h, self.w)
    }

    fn op(&mut self, ty: &str, op: &str, args: &[&str]) -> String {
        let name = self.fresh("v");
        let args: Vec<String> = args.iter().map(|a| format!("%{a}")).collect();
        writeln!(self.text, "  %{name}: {ty} = {op}({})", args.join(", ")).unwrap();
        name
    }

    fn conv(&mut self, x: &str, k: usize, pads: usize) -> String {
        let (c, s) = (self.c, self.shape());
        let w = self.konst(&[c, c, k, k], false);
        let b = self.konst(&[c], false);
        let attrs = format!(
            r#"conv {{"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[{pads},{pads},{pads},{pads}],"group":1,"activation":null}}"#
        );
        self.op(&s, &attrs, &[x, &w, &b])
    }

    fn binary(&mut self, kind: &str, a: &str, b: &str) -> String {
        let s = self.shape();
        self.op(
            &s,
            &format!(r#"binary {{"kind":"{kind}","activation":null}}"#),
            &[a, b],
        )
    }

    fn step(&mut self, kind: u8, x: &str) -> String {
        let (c, h, w, s) = (self.c, self.h, self.w, self.shape());
        match kind {
            0 => self.conv(x, 1, 0),
            1 => self.conv(x, 3, 1),
            2 => {
                let g = self.konst(&[c], false);
                let b = self.konst(&[c], false);
                let m = self.konst(&[c], false);
                let v = self.konst(&[c], true);
                self.op(
                    &s,
                    r#"batch_norm {"epsilon":0.00001,"axis":1}"#,
                    &[x, &g, &b, &m, &v],
                )
            }
            3 => {
                let k = self.konst(&[c, 1, 1], false);
                self.binary("mul", x, &k)
            }
            4 => {
                let k = self.konst(&[c, 1, 1], false);
                self.binary("add", x, &k)
            }
            5 => {
                let k = self.konst(&[1], false);
                self.binary("sub", x, &k)
            }
            6 => {
                let k = self.konst(&[1], true);
                self.binary("div", x, &k)
            }
            7 => self.op(&s, r#"activation {"act":"relu"}"#, &[x]),
            8 => self.op(
                &s,
                r#"activation {"act":{"clip":{"min":-0.5,"max":1.0}}}"#,
                &[x],
            ),
            9 => {
                let t = format!("f32[1,{h},{w},{c}]");
                let a = self.op(&t, r#"transpose {"perm":[0,2,3,1]}"#, &[x]);
                let b = self.op(&t, r#"activation {"act":"sigmoid"}"#, &[&a]);
                self.op(&s, r#"transpose {"perm":[0,3,1,2]}"#, &[&b])
            }
            10 => {
                let t = format!("f32[1,{c},{},{}]", h + 2, w + 2);
                let p = self.op(
                    &t,
                    r#"pad {"pads":[[0,0],[0,0],[1,1],[1,1]],"mode":"constant","value":0.0}"#,
                    &[x],
                );
                self.conv(&p, 3, 0)
            }
            11 => {
                let name = self.fresh("s");
                let (a, b) = (format!("{name}a"), format!("{name}b"));
                writeln!(
                    self.text,
                    r#"  %{a}: f32[1,1,{h},{w}], %{b}: f32[1,{},{h},{w}] = split {{"axis":1,"sizes":[1,{}]}}(%{x}) @"{name}""#,
                    c - 1,
                    c - 1
                )
                .unwrap();
                self.op(&s, r#"concat {"axis":1}"#, &[&a, &b])
            }
            12 => {
                let n = c * h * w;
                let r = self.op(
                    &format!("f32[1,{n}]"),
                    &format!(r#"reshape {{"shape":[1,{n}]}}"#),
                    &[x],
                );
                self.op(&s, &format!(r#"reshape {{"shape":[1,{c},{h},{w}]}}"#), &[&r])
            }
            13 => {
                // A residual add with an earlier value.
                let i = (self.param().abs() * 7.0) as usize % self.values.len();
                let earlier = self.values[i].clone();
                self.binary("add", x, &earlier)
            }
            _ => {
                let one = format!("{:?}", 1.0f32);
                let name = self.fresh("one");
                writeln!(self.text, "  %{name}: f32[1] = const [{one}]").unwrap();
                self.binary("mul", x, &name)
            }
        }
    }
}

fn build(c: usize, h: usize, w: usize, steps: &[u8], params: &[f32]) -> String {
    let mut b = Builder {
        c,
        h,
        w,
        text: String::new(),
        params,
        next_param: 0,
        count: 0,
        values: vec!["x".into()],
    };
    let mut x = "x".to_string();
    for &s in steps {
        x = b.step(s, &x);
        b.values.push(x.clone());
    }
    format!(
        "graph \"random\"(%x) {{\n  %x: {} = input\n{}  return %{x}\n}}\n",
        b.shape(),
        b.text
    )
}

fn input(c: usize, h: usize, w: usize, params: &[f32]) -> Tensor {
    let n = c * h * w;
    let v: Vec<f64> = (0..n).map(|i| params[i % params.len()] as f64).collect();
    Tensor::from_f64s(DType::F32, &[1, c, h, w], &v).expect("shape")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn egraph_optimize_preserves_outputs(
        c in 2usize..4,
        h in 2usize..5,
        w in 2usize..5,
        steps in prop::collection::vec(0u8..15, 1..8),
        params in prop::collection::vec(-2.0f32..2.0, 16..48),
    ) {
        let src = build(c, h, w, &steps, &params);
        let before = parse_graph(&src).expect("generated IR parses");
        verify(&before).expect("generated IR verifies");
        let mut after = before.clone();
        EGraphOptimize::with_defaults().run(&mut after).expect("pass runs");
        verify(&after).expect("result verifies");
        let x = input(c, h, w, &params);
        let (ra, rb) = (
            interp::run(&before, std::slice::from_ref(&x)).expect("before runs"),
            interp::run(&after, &[x]).expect("after runs"),
        );
        let (a, b) = (ra[0].to_f64_vec(), rb[0].to_f64_vec());
        prop_assert_eq!(ra[0].shape(), rb[0].shape());
        let scale = a.iter().fold(1e-3f64, |m, v| m.max(v.abs()));
        let err = a.iter().zip(&b).fold(0f64, |m, (p, q)| m.max((p - q).abs()));
        prop_assert!(
            err / scale <= 1e-5,
            "relative error {} on\n{}\nafter:\n{}",
            err / scale,
            src,
            print_graph(&after, &PrintOptions::default())
        );
    }
}
