//! The fixed-weight front-end's RTL against the interpreter and `nnopt fixynn` end to end:
//! front-ends cut from the Fashion-MNIST DS-CNN at several depths, quantized on real
//! images (handwritten digits resized to 28x28), simulated with Icarus Verilog and
//! Verilator with stalls on both streams: bit-exact; Yosys synthesizes a front-end; the
//! command's output directory, manifest, `fixynn simulate` and its errors.

mod common;

use common::{nnopt, nnopt_ok, require, shared, tempdir, testdata};
use nnopt::backends::fixed_frontend::FixedFrontend;
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::fixynn::simulate::{simulate, Simulator};
use nnopt::fixynn::synth::synthesize;
use nnopt::fixynn::write_rtl;
use nnopt_fixynn::partition::quantize_shared;
use nnopt_fixynn::split::{candidates, front};
use nnopt_fixynn::tasks::{load_task, Task, TaskSource};
use nnopt_passes::with_batch;
use std::path::Path;

fn dscnn() -> Option<Graph> {
    let path = require(&testdata().join("udc/fashion_dscnn.onnx"))?;
    Some(nnopt::fixynn::load_float(&path).unwrap())
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
fn images(task: &Task, g: &Graph, n: usize) -> Tensor {
    let input = g.node(g.inputs()[0]).outputs[0].ty.shape.clone();
    let rows: Vec<usize> = task.data.test_rows.iter().copied().take(n).collect();
    task.data.samples.batch(&rows, &input).unwrap().0
}

/// The front-end of `q` ending at `split`, its RTL in a fresh directory.
fn front_end(q: &Graph, split: &str) -> (Graph, FixedFrontend, tempfile::TempDir) {
    let fe_graph = front(q, split).unwrap();
    let fe = FixedFrontend::from_graph(&fe_graph).unwrap();
    let dir = tempdir();
    write_rtl(dir.path(), &fe).unwrap();
    (fe_graph, fe, dir)
}

fn check(
    dir: &Path,
    fe_graph: &Graph,
    fe: &FixedFrontend,
    x: &Tensor,
    sim: Simulator,
    stall: bool,
) {
    let n = x.shape()[0];
    let expected = interp::run(&with_batch(fe_graph, n).unwrap(), std::slice::from_ref(x)).unwrap();
    let got = simulate(
        &dir.join("rtl"),
        &dir.join("sim/fe_tb.v"),
        fe,
        x,
        sim,
        stall,
    )
    .unwrap();
    assert_eq!(got, expected[0], "{sim:?}, stall {stall}");
}

#[test]
fn front_ends_simulate_bit_exactly() {
    let Some(g) = dscnn() else { return };
    let Some(task) = digits(&g) else { return };
    let q = quantize_shared(&g, std::slice::from_ref(&task)).unwrap();
    let splits = candidates(&g).unwrap();
    assert_eq!(splits.len(), 7, "{splits:?}");
    // Icarus: the stride-2 convolution, then the depthwise one after it.
    let x = images(&task, &g, 2);
    for split in &splits[..2] {
        let (fe_graph, fe, dir) = front_end(&q, split);
        for stall in [false, true] {
            check(dir.path(), &fe_graph, &fe, &x, Simulator::Icarus, stall);
        }
    }
    // Verilator: three layers (conv, depthwise, pointwise 32 -> 64) on 40 images.
    let x = images(&task, &g, 40);
    let (fe_graph, fe, dir) = front_end(&q, &splits[2]);
    check(dir.path(), &fe_graph, &fe, &x, Simulator::Verilator, true);
}

#[test]
fn tflite_int8_front_ends_simulate_bit_exactly() {
    // TFLite Micro's person detection model: NHWC, a stride-2 convolution with TFLite's
    // asymmetric SAME padding, ReLU6 clamps, per-channel weights; random int8 images.
    let Some(path) = require(&shared().join("models/person_detect.tflite")) else {
        return;
    };
    let g = nnopt::load_model(&path).unwrap();
    let splits = candidates(&g).unwrap();
    assert!(splits.len() >= 3, "{splits:?}");
    let (fe_graph, fe, dir) = front_end(&g, &splits[2]);
    assert_eq!(fe.input.layout, nnopt::compiler::ir::Layout::Nhwc);
    let mut s = 11u64;
    let values: Vec<i8> = (0..3 * 96 * 96)
        .map(|_| (common::lcg_step(&mut s) >> 24) as u8 as i8)
        .collect();
    let x = Tensor::I8(
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3, 96, 96, 1]), values).unwrap(),
    );
    check(dir.path(), &fe_graph, &fe, &x, Simulator::Verilator, true);
}

#[test]
fn the_generator_refuses_what_it_cannot_hard_wire() {
    let Some(g) = dscnn() else { return };
    let Some(task) = digits(&g) else { return };
    let q = quantize_shared(&g, std::slice::from_ref(&task)).unwrap();
    // The whole int8 model ends in pooling and a classifier.
    let e = FixedFrontend::from_graph(&q).unwrap_err();
    assert!(e.to_string().contains("cannot be hard-wired"), "{e}");
    // A float front-end is not int8.
    let e = FixedFrontend::from_graph(&front(&g, "relu4").unwrap()).unwrap_err();
    assert!(e.to_string().contains("int8"), "{e}");
}

/// 6x6 images of a horizontal bar, a vertical bar or a diagonal, with noise: 240 rows
/// of CSV (36 features, label), shared with the `fixynn-partition` snapshot test.
fn bars() -> std::path::PathBuf {
    common::repo().join("tests/data/bars.csv")
}

#[test]
fn yosys_synthesizes_a_front_end() {
    let model = common::repo().join("tests/data/tiny_cnn.nnir");
    let csv = bars();
    let g = nnopt::fixynn::load_float(&model).unwrap();
    let task = load_task(
        &TaskSource::parse(csv.to_str().unwrap(), false).unwrap(),
        &[1, 1, 6, 6],
    )
    .unwrap();
    let q = quantize_shared(&g, std::slice::from_ref(&task)).unwrap();
    let (_, _, rtl) = front_end(&q, "h2");
    let layers = [
        (rtl.path().join("rtl/fe_layer0.v"), "fe_layer0"),
        (rtl.path().join("rtl/fe_layer1.v"), "fe_layer1"),
    ];
    let s = synthesize(&layers).unwrap();
    assert_eq!(s.modules.len(), 2);
    assert_eq!(s.cells, s.modules.iter().map(|m| m.cells).sum::<u64>());
    assert!(s.cells > 1000 && s.transistors > s.cells, "{s:?}");
    assert!(
        s.cell_types.keys().any(|k| k.contains("DFF")),
        "line buffers are flip-flops: {s:?}"
    );
}

#[test]
fn fixynn_command_end_to_end() {
    let model = common::repo().join("tests/data/tiny_cnn.nnir");
    let dir = tempdir();
    let csv = bars();
    let out = dir.path().join("out");
    let report = dir.path().join("fixynn.html");
    let args = [
        "fixynn",
        model.to_str().unwrap(),
        "--tasks",
        csv.to_str().unwrap(),
        &format!("{}:0,1", csv.display()),
        "--epochs",
        "10",
        "--learning-rate",
        "0.02",
        "--seed",
        "1",
        "--simulator",
        "icarus",
        "--report",
        report.to_str().unwrap(),
        "--json",
        "-o",
        out.to_str().unwrap(),
    ];
    let json: serde_json::Value = serde_json::from_str(&nnopt_ok(&args)).unwrap();
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(json, on_disk);
    let split = json["split_tensor"].as_str().unwrap();
    assert!(["h1", "h2"].contains(&split), "{split}");
    assert_eq!(json["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(json["tasks"][1]["classes"], 2);
    let v = &json["verification"];
    assert_eq!(v["bit_exact"], true);
    assert_eq!(v["images"], 48 + 32, "every test image of both tasks");
    assert!(json["ppa"]["energy_efficiency_ratio"].as_f64().unwrap() > 1.0);
    assert!(json["ppa"]["synthesis"]["transistors"].as_u64().unwrap() > 0);
    assert!(
        json["ppa"]["yosys"]["energy_efficiency_ratio"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    for f in json["files"]["rtl"]
        .as_array()
        .unwrap()
        .iter()
        .chain(json["files"]["backends"].as_array().unwrap())
    {
        assert!(out.join(f.as_str().unwrap()).is_file(), "{f}");
    }
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<svg") && html.contains("Assumptions"));

    // `fixynn simulate` reproduces `nnopt run` on the front-end model.
    let x = dir.path().join("x.npy");
    let mut s = 7u64;
    let values: Vec<f32> = (0..3 * 36)
        .map(|_| (common::lcg_step(&mut s) % 1000) as f32 / 1000.0)
        .collect();
    let t = Tensor::F32(
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3, 1, 6, 6]), values).unwrap(),
    );
    nnopt::npy::write_npy(&x, &t).unwrap();
    let (y_sim, y_run) = (dir.path().join("sim.npy"), dir.path().join("run.npy"));
    let frontend = out.join(json["frontend_model"].as_str().unwrap());
    nnopt_ok(&[
        "fixynn",
        "simulate",
        out.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
        "--output",
        y_sim.to_str().unwrap(),
        "--simulator",
        "icarus",
        "--stall",
    ]);
    nnopt_ok(&[
        "run",
        frontend.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
        "--output",
        y_run.to_str().unwrap(),
    ]);
    assert_eq!(
        nnopt::npy::read_npy(&y_sim).unwrap(),
        nnopt::npy::read_npy(&y_run).unwrap()
    );

    // The same run on one thread writes the same directory.
    let again = dir.path().join("again");
    let mut args2 = args.to_vec();
    let last = args2.len() - 1;
    args2[last] = again.to_str().unwrap();
    args2.extend(["--threads", "1"]);
    nnopt_ok(&args2);
    for f in [
        "frontend.nnir",
        "rtl/fe_top.v",
        "rtl/fe_layer0.v",
        "sim/expected.hex",
    ] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn fixynn_errors_name_the_problem() {
    let model = common::repo().join("tests/data/tiny_cnn.nnir");
    let dir = tempdir();
    let csv = bars();
    let m = model.to_str().unwrap();
    let c = csv.to_str().unwrap();
    let fails = |args: &[&str], needle: &str| {
        let o = nnopt(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    };
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    fails(&["fixynn", m, "-o", o], "at least one task");
    fails(
        &["fixynn", m, "--tasks", c, "--split", "nothing", "-o", o],
        "not a split point",
    );
    fails(
        &["fixynn", m, "--tasks", &format!("{c}:0,7"), "-o", o],
        "no sample has class 7",
    );
    fails(
        &["fixynn", m, "--tasks", c, "--area-budget", "0", "-o", o],
        "area",
    );
    // An existing directory that is not a fixynn output is never replaced.
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "keep").unwrap();
    fails(
        &[
            "fixynn",
            m,
            "--tasks",
            c,
            "--epochs",
            "1",
            "-o",
            precious.to_str().unwrap(),
        ],
        "refusing",
    );
    assert!(precious.join("notes.txt").is_file());
    // simulate: no manifest; a manifest pointing outside its directory.
    fails(
        &[
            "fixynn",
            "simulate",
            dir.path().to_str().unwrap(),
            "--input",
            c,
            "--output",
            o,
        ],
        "manifest.json",
    );
    std::fs::create_dir_all(&out).unwrap();
    let hostile = r#"{"format":"nnopt-fixynn","version":1,"frontend_model":"../../etc/passwd","files":{"rtl":[],"testbench":"sim/fe_tb.v","vectors":[],"backends":[]}}"#;
    std::fs::write(out.join("manifest.json"), hostile).unwrap();
    fails(
        &["fixynn", "simulate", o, "--input", c, "--output", o],
        "outside its directory",
    );
}
