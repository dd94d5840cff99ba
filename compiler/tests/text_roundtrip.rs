//! The IR text form reads back to an identical graph.

use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::*;

const SAMPLE: &str = r#"graph "sample"(%x, %"in:1") {
  %x: f32[1,2,4,4] = input
  %"in:1": i8[1,4] q(scale=[0.5], zp=[-3]) = input
  %w: f32[3,2,1,1] = const [0.5, -1.0, 2.0, 1e-5, NaN, -inf]
  %b: i32[3] = const [1, -2, 3]
  %bits: f8e4m3[2] = const [0, 255]
  %y: f32[1,3,4,4] = conv {"layout":"nchw","strides":[1,1],"dilations":[1,1],"pads":[0,0,0,0],"group":1,"activation":{"clip":{"min":0.0,"max":6.0}}}(%x, %w) @"conv/0"
  %s0: f32[1,1,4,4], %s1: f32[1,2,4,4] = split {"axis":1,"sizes":[1,2]}(%y)
  %r: f32[1,2,4,4] = activation {"act":"relu"}(%s1)
  %m: f32[1,2,4,4] = mat_mul(%r, %x)
  %q: i8[1,4] q(scale=[0.25, 0.5, 0.5, 0.5], zp=[0], axis=1) = quantize {"to":"i8"}(%"in:1")
  return %r, %s0, %q, %b, %bits
}
"#;

#[test]
fn print_parse_print_is_identity() {
    let g = parse_graph(SAMPLE).expect("sample parses");
    verify(&g).expect("sample verifies");
    let printed = print_graph(&g, &PrintOptions::default());
    assert_eq!(printed, SAMPLE);
    let again = parse_graph(&printed).expect("printed form parses");
    assert_eq!(print_graph(&again, &PrintOptions::default()), printed);
}

#[test]
fn elided_constants_refuse_to_parse() {
    let g = parse_graph(SAMPLE).expect("sample parses");
    let short = print_graph(
        &g,
        &PrintOptions {
            elide_constants_over: Some(2),
        },
    );
    assert!(short.contains("<elided"));
    let err = parse_graph(&short).unwrap_err();
    assert!(err.to_string().contains("elided"), "{err}");
}

#[test]
fn parse_errors_name_the_line() {
    let bad = SAMPLE.replace("%r, %x", "%r, %nope");
    let err = parse_graph(&bad).unwrap_err().to_string();
    assert!(err.contains("line 10") && err.contains("%nope"), "{err}");
}

#[test]
fn verifier_rejects_wrong_declared_shape() {
    let bad = SAMPLE.replace(
        "%r: f32[1,2,4,4] = activation",
        "%r: f32[1,2,4,5] = activation",
    );
    let g = parse_graph(&bad).expect("parses");
    let err = verify(&g).unwrap_err().to_string();
    assert!(err.contains("declared") && err.contains("'r'"), "{err}");
}

#[test]
fn graph_header_lists_each_input_once() {
    let twice = SAMPLE.replace("(%x, %\"in:1\")", "(%x, %\"in:1\", %x)");
    let err = parse_graph(&twice).unwrap_err().to_string();
    assert!(err.contains("%x is listed twice"), "{err}");
    let not_input = SAMPLE.replace("(%x, %\"in:1\")", "(%x, %\"in:1\", %w)");
    let err = parse_graph(&not_input).unwrap_err().to_string();
    assert!(
        err.contains("%w in the graph header is not an input"),
        "{err}"
    );
}
