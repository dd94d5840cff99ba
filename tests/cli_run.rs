//! `nnopt run` without Python (random inputs, quantized float inputs, readable outputs,
//! taps), `nnopt compare`, and the messages for files of the wrong kind.

mod common;

use common::*;
use nnopt::compiler::ir::{DType, Tensor};
use std::path::{Path, PathBuf};

fn example(name: &str) -> String {
    repo()
        .join("examples/models")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// 2 digit-like images in [0, 1] as float32 [2, 8, 8, 1].
fn float_images(dir: &Path) -> PathBuf {
    let v: Vec<f64> = (0..128).map(|i| ((i * 37) % 17) as f64 / 16.0).collect();
    let t = Tensor::from_f64s(DType::F32, &[2, 8, 8, 1], &v).expect("shape");
    let p = dir.join("images.npy");
    nnopt::npy::write_npy(&p, &t).expect("write");
    p
}

/// Compiles the bundled int8 CNN to an NPU binary in `dir`.
fn compile_int8(dir: &Path) -> PathBuf {
    let npub = dir.join("cnn.npub");
    nnopt_ok(&[
        "compile",
        &example("digits_cnn_int8.tflite"),
        "-o",
        s(&npub),
    ]);
    npub
}

#[test]
fn random_inputs_are_seeded_and_json_holds_values_and_top5() {
    let model = example("digits_cnn_int8.tflite");
    let run = |seed: &str| {
        json(&nnopt_ok(&[
            "run", &model, "--random", "--seed", seed, "--json",
        ]))
    };
    let (a, b, c) = (run("3"), run("3"), run("4"));
    assert_eq!(a, b);
    assert_ne!(a["outputs"][0]["values"], c["outputs"][0]["values"]);
    let out = &a["outputs"][0];
    assert_eq!(out["shape"], serde_json::json!([1, 10]));
    assert_eq!(out["values"].as_array().expect("values").len(), 10);
    // Dequantized values are scale * (code - zero point).
    let (scale, zp) = (
        out["scale"].as_f64().unwrap(),
        out["zero_point"].as_f64().unwrap(),
    );
    for (code, real) in out["values"]
        .as_array()
        .unwrap()
        .iter()
        .zip(out["dequantized"].as_array().unwrap())
    {
        let want = scale as f32 as f64 * (code.as_f64().unwrap() - zp);
        assert!((real.as_f64().unwrap() - want).abs() < 1e-6);
    }
    // The top-5 classes are the five highest scores, best first.
    let top: Vec<(u64, f64)> = out["top5"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["class"].as_u64().unwrap(), c["score"].as_f64().unwrap()))
        .collect();
    assert_eq!(top.len(), 5);
    let mut sorted: Vec<f64> = out["dequantized"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    sorted.sort_by(|x, y| y.total_cmp(x));
    for (k, (_, score)) in top.iter().enumerate() {
        assert_eq!(*score, sorted[k]);
    }
    // The note says how the inputs were drawn.
    assert!(a["inputs"][0].as_str().unwrap().contains("seed 3"), "{a}");
    // Text output shows both codes and dequantized values, and the top-5.
    let text = nnopt_ok(&["run", &model, "--random"]);
    assert!(
        text.contains("codes") && text.contains("dequantized") && text.contains("top-5"),
        "{text}"
    );
}

#[test]
fn json_values_are_bounded() {
    // A float model with a 1 x 4000 output: JSON holds the first 1,000 values.
    let dir = tempdir();
    let model = dir.path().join("wide.nnir");
    std::fs::write(
        &model,
        "graph \"wide\"(%x) {\n  %x: f32[1,4000] = input\n  %y: f32[1,4000] = identity(%x)\n  return %y\n}\n",
    )
    .expect("write");
    let j = json(&nnopt_ok(&["run", s(&model), "--random", "--json"]));
    assert_eq!(j["outputs"][0]["elements"], 4000);
    assert_eq!(j["outputs"][0]["values"].as_array().unwrap().len(), 1000);
}

#[test]
fn float_inputs_to_an_int8_model_are_quantized_with_a_note() {
    let dir = tempdir();
    let x = float_images(dir.path());
    let model = example("digits_cnn_int8.tflite");
    let y = dir.path().join("y.npy");
    let out = nnopt(&["run", &model, "--input", s(&x), "-o", s(&y)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("quantized") && err.contains("scale"), "{err}");
    // The same as giving the codes TFLite's quantization makes: round(x / s) + zp, with
    // the model's input scale 1/255 and zero point -128.
    let floats = nnopt::npy::read_npy(&x).expect("read").to_f64_vec();
    let codes: Vec<f64> = floats
        .iter()
        .map(|&v| ((v as f32 / (1.0f32 / 255.0)).round() as f64 - 128.0).clamp(-128.0, 127.0))
        .collect();
    let xq = dir.path().join("xq.npy");
    nnopt::npy::write_npy(
        &xq,
        &Tensor::from_f64s(DType::I8, &[2, 8, 8, 1], &codes).unwrap(),
    )
    .unwrap();
    let yq = dir.path().join("yq.npy");
    nnopt_ok(&["run", &model, "--input", s(&xq), "-o", s(&yq)]);
    assert_eq!(std::fs::read(&y).unwrap(), std::fs::read(&yq).unwrap());
}

#[test]
fn a_missing_input_says_how_to_make_one() {
    let out = nnopt(&[
        "run",
        &example("digits_cnn_int8.tflite"),
        "--input",
        "nope.npy",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("nope.npy") && err.contains("np.save") && err.contains("--random"),
        "{err}"
    );
}

#[test]
fn taps_write_intermediate_tensors_of_graphs_and_binaries() {
    let dir = tempdir();
    let x = float_images(dir.path());
    // A graph: tap the first value after the input, as `opt --emit ir` names it.
    let model = example("digits_cnn_float.tflite");
    let ir = nnopt_ok(&["opt", &model, "--emit", "ir"]);
    let name = ir
        .lines()
        .filter_map(|l| l.trim().strip_prefix('%'))
        .filter(|l| l.contains(" = conv"))
        .map(|l| {
            l.split(':')
                .next()
                .unwrap()
                .trim()
                .trim_matches('"')
                .to_string()
        })
        .next()
        .expect("a conv in the IR");
    let y = dir.path().join("y.npy");
    let out = nnopt(&["run", &model, "-i", s(&x), "--tap", &name, "-o", s(&y)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tap {name}: {err}");
    let tapped: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("y_"))
        .collect();
    assert_eq!(tapped.len(), 1, "{tapped:?}");
    let t = nnopt::npy::read_npy(&dir.path().join(&tapped[0])).expect("tap file");
    assert_eq!(t.shape()[0], 2, "both batches are stacked: {:?}", t.shape());
    // A misspelt name is an error with a suggestion.
    let bad = format!("{name}x");
    let out = nnopt(&["run", &model, "-i", s(&x), "--tap", &bad]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("did you mean") && err.contains(&name), "{err}");

    // An NPU binary: tap arena tensor t2 (the first conv's output).
    let npub = compile_int8(dir.path());
    let listing = nnopt_ok(&["inspect", s(&npub)]);
    assert!(listing.contains("names for `nnopt run --tap`"), "{listing}");
    let y = dir.path().join("z.npy");
    nnopt_ok(&["run", s(&npub), "--random", "--tap", "t2", "-o", s(&y)]);
    let t = nnopt::npy::read_npy(&dir.path().join("z_t2.npy")).expect("tap file");
    assert_eq!(t.shape(), &[1, 8, 8, 16]);
    // The same tensor, by its IR name, from the interpreter on the same random input.
    let ir_name = listing
        .lines()
        .find_map(|l| l.trim().strip_prefix("t2 "))
        .expect("t2 listed")
        .to_string();
    let y2 = dir.path().join("w.npy");
    let out = nnopt_ok(&[
        "run",
        &example("digits_cnn_int8.tflite"),
        "--random",
        "--tap",
        &ir_name,
        "-o",
        s(&y2),
        "--json",
    ]);
    let file = json(&out)["taps"][0]["file"]
        .as_str()
        .expect("tap file")
        .to_string();
    assert_eq!(
        nnopt::npy::read_npy(Path::new(&file)).unwrap().to_f64_vec(),
        t.to_f64_vec(),
        "the virtual NPU and the interpreter agree on {ir_name}"
    );
}

#[test]
fn compare_measures_errors_snr_and_top1() {
    let dir = tempdir();
    let int8 = example("digits_cnn_int8.tflite");
    let float = example("digits_cnn_float.tflite");
    let npub = compile_int8(dir.path());
    // The interpreter and the virtual NPU agree bit for bit.
    let same = json(&nnopt_ok(&[
        "compare",
        &int8,
        s(&npub),
        "--random",
        "--json",
    ]));
    assert_eq!(same["outputs"][0]["identical"], true, "{same}");
    assert_eq!(same["outputs"][0]["max_abs_error"], 0.0);
    assert!(same["outputs"][0]["snr_db"].is_null());
    // Float against int8 on the same images: close, not equal.
    let x = float_images(dir.path());
    let ptq = json(&nnopt_ok(&[
        "compare",
        &float,
        &int8,
        "-i",
        s(&x),
        "--json",
    ]));
    let o = &ptq["outputs"][0];
    let snr = o["snr_db"].as_f64().expect("finite SNR");
    assert!(snr > 15.0 && snr < 80.0, "{ptq}");
    assert!(o["max_abs_error"].as_f64().unwrap() > 0.0);
    assert_eq!(o["rows"], 2);
    assert!(o["top1_agree"].as_u64().unwrap() <= 2);
    // Against a reference .npy that `run` wrote: identical.
    let y = dir.path().join("ref.npy");
    nnopt_ok(&["run", &float, "-i", s(&x), "-o", s(&y)]);
    let text = nnopt_ok(&["compare", &float, s(&y), "-i", s(&x)]);
    assert!(
        text.contains("SNR dB") && text.contains("inf") && text.contains("2/2"),
        "{text}"
    );
    // --min-snr fails below the bound, naming the output.
    let out = nnopt(&["compare", &float, &int8, "-i", s(&x), "--min-snr", "200"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--min-snr"));
    // Models of different interfaces are an error, not a panic.
    let mlp = dir.path().join("mlp.nnir");
    std::fs::write(
        &mlp,
        "graph \"m\"(%x) {\n  %x: f32[1,4] = input\n  %y: f32[1,4] = identity(%x)\n  return %y\n}\n",
    )
    .unwrap();
    let out = nnopt(&["compare", &float, s(&mlp), "--random"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("[1, 4]"), "{err}");
}

#[test]
fn files_of_the_wrong_kind_say_what_they_are() {
    let dir = tempdir();
    let npub = compile_int8(dir.path());
    // An NPU binary where a model is expected.
    let out = nnopt(&["compile", s(&npub)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("cnn.npub") && err.contains("NPU binary"),
        "{err}"
    );
    // A training program given to run.
    let ntp = dir.path().join("client.ntp");
    nnopt_ok(&[
        "compile",
        &example("digits_cnn_float.tflite"),
        "--target",
        "train",
        "-o",
        s(&ntp),
    ]);
    let out = nnopt(&["run", s(&ntp), "--random"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("client.ntp") && err.contains("training program"),
        "{err}"
    );
    // A file named .tflite that is not a flatbuffer.
    let fake = dir.path().join("fake.tflite");
    std::fs::write(&fake, b"PK\x03\x04 this is a zip archive, not a model").unwrap();
    let out = nnopt(&["inspect", s(&fake)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("fake.tflite") && err.contains("TFL3") && !err.contains("unaligned"),
        "{err}"
    );
}

#[test]
fn inspect_shows_binary_io_quantization() {
    let dir = tempdir();
    let npub = compile_int8(dir.path());
    let text = nnopt_ok(&["inspect", s(&npub)]);
    assert!(
        text.contains("scale 0.003921") && text.contains("zero point -128"),
        "{text}"
    );
    let j = json(&nnopt_ok(&["inspect", s(&npub), "--json"]));
    assert_eq!(j["inputs"][0]["zero_point"], -128);
}

#[test]
fn opt_prints_a_summary_and_elides_constants() {
    let model = example("digits_cnn_float.tflite");
    let summary = nnopt_ok(&["opt", &model]);
    assert!(
        summary.contains("egraph-optimize") && summary.contains("MACs"),
        "{summary}"
    );
    assert!(summary.len() < 4000, "a summary, not the IR:\n{summary}");
    let elided = nnopt_ok(&["opt", &model, "--emit", "ir"]);
    assert!(elided.contains("<elided"), "{elided}");
    let full = nnopt_ok(&["opt", &model, "--emit", "ir", "--full"]);
    assert!(!full.contains("<elided") && full.len() > elided.len());
    nnopt::compiler::ir::text::parse_graph(&full).expect("the full IR parses back");
    let j = json(&nnopt_ok(&["opt", &model, "--json"]));
    assert!(j["passes"].as_array().is_some_and(|p| !p.is_empty()), "{j}");
    assert!(j["after"]["macs"].as_u64().is_some_and(|m| m > 0));
}

#[test]
fn default_outputs_sit_beside_the_model_and_never_replace_it() {
    let dir = tempdir();
    let model = dir.path().join("cnn.tflite");
    std::fs::copy(example("digits_cnn_float.tflite"), &model).unwrap();
    let before = std::fs::read(&model).unwrap();
    // export without -o: cnn.tflite would overwrite the model, so cnn_nnopt.tflite.
    let out = nnopt_ok(&["export", s(&model)]);
    assert!(out.contains("cnn_nnopt.tflite"), "{out}");
    assert!(dir.path().join("cnn_nnopt.tflite").exists());
    let out = nnopt_ok(&["export", s(&model), "--int8"]);
    assert!(out.contains("cnn_int8.tflite"), "{out}");
    let out = nnopt_ok(&["quantize", s(&model)]);
    assert!(out.contains("cnn_e4m3.onnx"), "{out}");
    let out = nnopt_ok(&["compile", s(&model)]);
    assert!(out.contains("cnn.npub"), "{out}");
    assert_eq!(std::fs::read(&model).unwrap(), before);
    // An explicit output equal to the model is an error.
    let bad = nnopt(&["export", s(&model), "-o", s(&model)]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the model itself"));
    assert_eq!(std::fs::read(&model).unwrap(), before);
}

#[test]
fn ops_page_is_current_and_covers_what_compile_emits() {
    let page = std::fs::read_to_string(repo().join("docs/ops.md")).expect("docs/ops.md");
    assert_eq!(
        page,
        nnopt_ok(&["ops", "--markdown"]),
        "docs/ops.md is stale: run `nnopt ops --markdown > docs/ops.md`"
    );
    let ops = json(&nnopt_ok(&["ops", "--json"]));
    assert!(ops["onnx"].as_array().unwrap().iter().any(|o| o == "Conv"));
    assert!(ops["tflite"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "DEPTHWISE_CONV_2D"));
    let commands: Vec<String> = ops["npu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["command"].as_str().unwrap().to_string())
        .collect();
    // Every NPU command that compiling real models produces is in the table.
    let dir = tempdir();
    let mut models = vec![example("digits_cnn_int8.tflite")];
    for m in [
        "person_detect.tflite",
        "keyword_scrambled_8bit.tflite",
        "hello_world_int8.tflite",
    ] {
        models.push(s(&shared().join("models").join(m)).to_string());
    }
    for m in &models {
        let out = dir.path().join("m.npub");
        let summary = json(&nnopt_ok(&["compile", m, "-o", s(&out), "--json"]));
        for layer in summary["layers"].as_array().unwrap() {
            let kind = layer["kind"].as_str().unwrap();
            if kind == "cpu" {
                continue;
            }
            assert!(
                commands
                    .iter()
                    .any(|c| c.split([' ', ',', '(', ')', ':']).any(|w| w == kind)),
                "{m}: command {kind} is not in `nnopt ops`"
            );
        }
    }
}

#[test]
fn compile_report_and_csv_describe_every_layer() {
    let dir = tempdir();
    let model = shared().join("models/person_detect.tflite");
    let report = dir.path().join("r.html");
    let csv = dir.path().join("perf");
    let out = nnopt_ok(&[
        "compile",
        s(&model),
        "-o",
        s(&dir.path().join("pd.npub")),
        "--report",
        s(&report),
        "--csv",
        s(&csv),
    ]);
    assert!(
        out.contains("inferences/s") && out.contains("MAC utilization"),
        "{out}"
    );
    for f in [
        "r.html",
        "perf/person_detect_per-layer.csv",
        "perf/person_detect_summary.csv",
    ] {
        assert!(
            out.contains(&format!("wrote {}", s(&dir.path().join(f)))),
            "{out}"
        );
    }
    // CSV: the documented columns, one row per command, numbers where numbers belong.
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let per_layer = std::fs::read_to_string(csv.join("person_detect_per-layer.csv")).unwrap();
    let mut lines = per_layer.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, nnopt::report::npu::LAYER_COLUMNS);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 30, "person_detect schedules 30 commands");
    let mut share = 0.0;
    for r in &rows {
        assert_eq!(r.len(), header.len(), "{r:?}");
        let cycles: u64 = r[5].parse().expect("cycles");
        assert!(cycles > 0 || r[2] == "softmax", "{r:?}");
        share += r[6].parse::<f64>().expect("share");
        assert_eq!(r[3], "npu");
    }
    assert!((share - 100.0).abs() < 0.1, "shares sum to {share}");
    let summary = std::fs::read_to_string(csv.join("person_detect_summary.csv")).unwrap();
    let summary: Vec<Vec<&str>> = summary.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(summary[0], nnopt::report::npu::SUMMARY_COLUMNS);
    assert_eq!(summary[1].len(), summary[0].len());
    for column in nnopt::report::npu::LAYER_COLUMNS
        .iter()
        .chain(nnopt::report::npu::SUMMARY_COLUMNS)
    {
        assert!(
            readme.contains(&format!("`{column}`")),
            "README lacks CSV column {column}"
        );
    }
    // HTML: a titled bar per layer in each of the 4 charts, the clock and rate, colours.
    let html = std::fs::read_to_string(&report).unwrap();
    assert_eq!(html.matches("<title>#0 ").count(), 4, "hover titles");
    assert_eq!(html.matches("<title>#29 ").count(), 4);
    for want in [
        "inferences/s",
        "MHz",
        "MAC utilization",
        "Arena bytes",
        "memory-bound",
        "Calibration",
    ] {
        assert!(html.contains(want), "report lacks {want}");
    }
}
