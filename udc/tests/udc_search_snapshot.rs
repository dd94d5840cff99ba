//! The `udc-search` pass on a small MLP and a small synthetic dataset: IR before and
//! after (int8, weights on their searched grids), and the budget held.

use nnopt_backends::npu::target::Target;
use nnopt_backends::npu::{compile, LowerOptions};
use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::ir::Graph;
use nnopt_compiler::pass::Pass;
use nnopt_compiler::Result;
use nnopt_udc::{SharedOracle, UdcSearch};
use std::fmt::Write;
use std::sync::Arc;

const MLP: &str = r#"graph "mlp"(%x) {
  %x: f32[1,4] = input
  %w1: f32[8,4] = const [0.5, -0.3, 0.2, 0.1, -0.4, 0.6, 0.1, -0.2, 0.3, 0.3, -0.5, 0.2, -0.1, -0.2, 0.4, 0.6, 0.7, 0.1, -0.3, -0.4, -0.6, 0.2, 0.5, 0.1, 0.2, -0.7, 0.3, 0.4, 0.1, 0.5, -0.2, -0.6]
  %b1: f32[8] = const [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
  %h: f32[1,8] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":true,"activation":"relu"}(%x, %w1, %b1)
  %w2: f32[3,8] = const [0.4, -0.2, 0.3, 0.1, -0.5, 0.2, 0.6, -0.1, -0.3, 0.5, -0.1, 0.4, 0.2, -0.6, 0.1, 0.3, 0.2, 0.1, -0.4, -0.3, 0.5, 0.4, -0.2, 0.6]
  %b2: f32[3] = const [0.0, 0.0, 0.0]
  %y: f32[1,3] = gemm {"alpha":1.0,"beta":1.0,"trans_a":false,"trans_b":true,"activation":null}(%h, %w2, %b2)
  return %y
}
"#;

/// Three Gaussian-like blobs in 4-D, 300 rows, as CSV (features, label).
fn blobs() -> String {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres = [
        [1.0, 0.0, 0.5, 0.0],
        [0.0, 1.0, 0.0, 0.5],
        [0.5, 0.5, 1.0, 1.0],
    ];
    let mut csv = String::new();
    for i in 0..300 {
        let c = i % 3;
        for centre in centres[c] {
            let noise = (next() + next() + next() - 1.5) * 0.4;
            let _ = write!(csv, "{:.4},", centre + noise);
        }
        let _ = writeln!(csv, "{c}");
    }
    csv
}

fn oracle() -> SharedOracle {
    Arc::new(|g: &Graph| -> Result<Vec<(String, usize)>> {
        let target = Target::preset("npu-256")?;
        let c = compile(g, &target, &LowerOptions { cpu_fallback: true })?;
        Ok(c.weights
            .into_iter()
            .map(|w| (w.layer, w.encoded_bytes))
            .collect())
    })
}

#[test]
fn udc_search_on_a_small_mlp() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("blobs.csv");
    std::fs::write(&csv, blobs()).unwrap();
    let options: serde_yaml_ng::Value = serde_yaml_ng::from_str(&format!(
        "{{ budget: 100, data: {}, epochs: 3, warmup_epochs: 5, finetune_epochs: 2, learning_rate: 0.05 }}",
        csv.display()
    ))
    .unwrap();
    let pass = UdcSearch::from_options(&options, oracle()).unwrap();
    let before = parse_graph(MLP).unwrap();
    let mut after = before.clone();
    assert!(pass.run(&mut after).unwrap());
    let bytes: usize = oracle()(&after).unwrap().iter().map(|b| b.1).sum();
    assert!(bytes <= 100, "{bytes}");
    let stats = pass.stats().unwrap();
    let opts = PrintOptions::summary();
    insta::assert_snapshot!(format!(
        "before:\n{}\nafter (udc-search):\n{}\n{}",
        print_graph(&before, &opts),
        print_graph(&after, &opts),
        stats.text
    ));
}
