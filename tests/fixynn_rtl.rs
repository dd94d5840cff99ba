//! The fixed-weight front-end's RTL against the interpreter: front-ends cut from the
//! Fashion-MNIST DS-CNN at several depths, quantized on real images, simulated with
//! Icarus Verilog (with and without stalls on the stream) and Verilator: bit-exact.

mod common;

use common::{require, shared, testdata};
use nnopt::backends::fixed_frontend::FixedFrontend;
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::fixynn::simulate::{simulate, Simulator};
use nnopt::fixynn::write_rtl;
use nnopt_fixynn::partition::quantize_shared;
use nnopt_fixynn::split::{candidates, front};
use nnopt_fixynn::tasks::{load_task, Task, TaskSource};
use nnopt_passes::with_batch;

fn dscnn() -> Option<Graph> {
    let path = require(&testdata().join("udc/fashion_dscnn.onnx"))?;
    let mut g = nnopt::load_model(&path).unwrap();
    nnopt::optimize(&mut g, None, &Default::default()).unwrap();
    Some(g)
}

fn digits(g: &Graph) -> Option<Task> {
    let csv = require(&shared().join("data/digits.csv.gz"))?;
    let input = g.node(g.inputs()[0]).outputs[0].ty.shape.clone();
    Some(
        load_task(
            &TaskSource::parse(csv.to_str().unwrap(), false).unwrap(),
            &input,
        )
        .unwrap(),
    )
}

/// `n` test images of a task, stacked.
fn images(task: &Task, input: &[usize], n: usize) -> Tensor {
    let rows: Vec<usize> = task.data.test_rows.iter().copied().take(n).collect();
    task.data.samples.batch(&rows, input).unwrap().0
}

#[test]
fn front_ends_simulate_bit_exactly() {
    let (Some(g), true) = (dscnn(), true) else {
        return;
    };
    let Some(task) = digits(&g) else { return };
    let q = quantize_shared(&g, std::slice::from_ref(&task)).unwrap();
    let splits = candidates(&g).unwrap();
    assert!(splits.len() >= 3, "{splits:?}");
    let input = g.node(g.inputs()[0]).outputs[0].ty.shape.clone();
    let x = images(&task, &input, 3);
    for split in &splits[..3] {
        let fe_graph = front(&q, split).unwrap();
        let fe = FixedFrontend::from_graph(&fe_graph).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_rtl(dir.path(), &fe).unwrap();
        let expected = interp::run(&with_batch(&fe_graph, 3).unwrap(), &[x.clone()]).unwrap();
        for stall in [false, true] {
            let got = simulate(dir.path(), &fe, &x, Simulator::Icarus, stall).unwrap();
            assert_eq!(got, expected[0], "split {split}, stall {stall}");
        }
    }
}

#[test]
fn verilator_agrees() {
    let Some(g) = dscnn() else { return };
    let Some(task) = digits(&g) else { return };
    let q = quantize_shared(&g, std::slice::from_ref(&task)).unwrap();
    let input = g.node(g.inputs()[0]).outputs[0].ty.shape.clone();
    let x = images(&task, &input, 3);
    let split = std::env::var("SPLIT").unwrap_or("relu4".into());
    let fe_graph = front(&q, &split).unwrap();
    let fe = FixedFrontend::from_graph(&fe_graph).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_rtl(dir.path(), &fe).unwrap();
    let expected = interp::run(&with_batch(&fe_graph, 3).unwrap(), &[x.clone()]).unwrap();
    let got = simulate(dir.path(), &fe, &x, Simulator::Verilator, true).unwrap();
    assert_eq!(got, expected[0]);
}

#[test]
#[ignore]
fn dump_front_end() {
    let g = dscnn().unwrap();
    let task = digits(&g).unwrap();
    let q = quantize_shared(&g, std::slice::from_ref(&task)).unwrap();
    let split = std::env::var("SPLIT").unwrap();
    let fe = FixedFrontend::from_graph(&front(&q, &split).unwrap()).unwrap();
    write_rtl(std::path::Path::new("/tmp/fe_dump"), &fe).unwrap();
}
