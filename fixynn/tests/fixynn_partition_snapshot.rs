//! The `fixynn-partition` pass on a tiny CNN and synthetic bar images: IR before and
//! after (the int8 front-end, a dequantization, the first task's int8 back-end), the
//! split candidates, and the search's figures.

use nnopt_compiler::ir::text::{parse_graph, print_graph, PrintOptions};
use nnopt_compiler::pass::Pass;
use nnopt_fixynn::split::{back, candidates, front};
use nnopt_fixynn::FixynnPartition;

const CNN: &str = include_str!("../../tests/data/tiny_cnn.nnir");

/// 6x6 images of a horizontal bar, a vertical bar or a diagonal, with noise (240 rows).
fn bars() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bars.csv")
}

#[test]
fn split_points_and_cuts() {
    let g = parse_graph(CNN).unwrap();
    assert_eq!(
        candidates(&g).unwrap(),
        vec!["h1".to_string(), "h2".to_string()]
    );
    let f = front(&g, "h1").unwrap();
    assert_eq!(f.outputs().len(), 1);
    assert_eq!(f.node_count(), 4, "input, two constants and the first conv");
    let b = back(&g, "h1").unwrap();
    assert_eq!(b.node(b.inputs()[0]).outputs[0].name, "h1");
    assert!(back(&g, "y").is_err());
    assert!(front(&g, "nothing").is_err());
}

#[test]
fn fixynn_partition_on_a_tiny_cnn() {
    let csv = bars();
    let options: serde_yaml_ng::Value = serde_yaml_ng::from_str(&format!(
        "{{ tasks: [\"{}\"], epochs: 10, learning_rate: 0.02, seed: 1 }}",
        csv.display()
    ))
    .unwrap();
    let pass = FixynnPartition::from_options(&options).unwrap();
    let before = parse_graph(CNN).unwrap();
    let mut after = before.clone();
    assert!(pass.run(&mut after).unwrap());
    let stats = pass.stats().unwrap();
    let points = stats.json["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for p in points {
        let ratio = p["ppa"]["energy_efficiency_ratio"].as_f64().unwrap();
        assert!(ratio > 1.0, "hard-wiring saves energy: {ratio}");
        let acc = p["tasks"][0]["accuracy"].as_f64().unwrap();
        assert!(acc > 0.8, "the bars are learnable: {acc}");
    }
    let opts = PrintOptions::summary();
    insta::assert_snapshot!(format!(
        "before:\n{}\nafter:\n{}",
        print_graph(&before, &opts),
        print_graph(&after, &opts)
    ));
}

#[test]
fn bad_options_are_named() {
    let none: serde_yaml_ng::Value = serde_yaml_ng::from_str("{ epochs: 1 }").unwrap();
    let e = FixynnPartition::from_options(&none).err().unwrap();
    assert!(e.message.contains("tasks"), "{e}");
    let typo: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("{ tasks: [a.csv], epoch: 1 }").unwrap();
    assert!(FixynnPartition::from_options(&typo).is_err());
}
