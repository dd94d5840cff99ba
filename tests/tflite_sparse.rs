//! Sparse weights (`export_tflite_with` with `sparse_weights`, `nnopt export --sparse`):
//! models whose convolution and fully connected weights are pruned to 70 % zeros, written
//! dense and sparse. The sparse file is smaller, LiteRT runs it with outputs bit-identical
//! to the dense file's (and to nnopt's interpreter), and nnopt reads it back to the same
//! constants as the dense file.

mod common;

use common::*;
use nnopt::compiler::interp::run;
use nnopt::compiler::ir::*;
use nnopt::formats::tflite::{
    export_tflite, export_tflite_with, import_tflite_bytes, TfliteExportOptions,
};
use nnopt::npy::write_npy;
use std::path::{Path, PathBuf};

/// Shared models (under ../shared/models), with the LiteRT kernels to run them on (its
/// reference kernels abort on mobilenet_v2, so its builtin ones) and the relative error
/// allowed against nnopt's interpreter (0: bit-exact). hello_world's weights (at most 256
/// bytes each) stay dense: their sparse tables would take more than the zeros save.
const MODELS: [(&str, &str, f64); 5] = [
    ("generated/digits_cnn_int8.tflite", "ref", 0.0),
    ("generated/mobilenet_v2_035_96_int8.tflite", "builtin", 0.0),
    ("micro_speech_quantized.tflite", "ref", 0.0),
    ("person_detect.tflite", "ref", 0.0),
    ("generated/digits_cnn_float.tflite", "ref", 1e-5),
];

/// The share of each weight tensor set to zero.
const PRUNED: f64 = 0.7;

const SPARSE: TfliteExportOptions = TfliteExportOptions {
    sparse_weights: true,
};

/// Sets the `PRUNED` share of smallest-magnitude values of every convolution and fully
/// connected weight constant to zero.
fn prune(g: &mut Graph) {
    for n in g.node_indices() {
        if !matches!(g.node(n).op, Op::Conv(_) | Op::Gemm(_)) {
            continue;
        }
        let w = g.node_inputs(n)[1];
        let Some(t) = g.const_value(w) else { continue };
        let mut v = t.to_f64_vec();
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs()));
        for &i in &order[..(v.len() as f64 * PRUNED) as usize] {
            v[i] = 0.0;
        }
        let pruned = Tensor::from_f64s(t.dtype(), t.shape(), &v).expect("same type");
        g.node_mut(w.node).op = Op::Const { value: pruned };
    }
}

/// Seeded inputs over each input type's range (int types: full range; f32: [-2, 2)).
fn inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut state = seed;
    g.inputs()
        .iter()
        .map(|&n| {
            let ty = g.ty(ValueRef::first(n));
            let (lo, hi) = ty.dtype.int_range().unwrap_or((-2, 2));
            let vals: Vec<f64> = (0..ty.num_elements())
                .map(|_| {
                    let u = (lcg_step(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
                    let x = lo as f64 + u * (hi - lo + 1) as f64;
                    if ty.dtype.is_float() {
                        x
                    } else {
                        x.floor().min(hi as f64)
                    }
                })
                .collect();
            Tensor::from_f64s(ty.dtype, &ty.shape, &vals).expect("input tensor")
        })
        .collect()
}

/// Each node's op and constant inputs, in topological order (what two imports of the same
/// model share whatever their constants are named).
fn computation(g: &Graph) -> Vec<(String, Vec<Option<Tensor>>)> {
    g.topo_order()
        .expect("acyclic")
        .into_iter()
        .filter(|&n| !g.node(n).op.is_source())
        .map(|n| {
            let consts = g
                .node_inputs(n)
                .iter()
                .map(|&v| g.const_value(v).cloned())
                .collect();
            (g.node(n).op.name().to_string(), consts)
        })
        .collect()
}

/// A model of `MODELS`, pruned, with its dense and sparse exports.
struct Pruned {
    model: &'static str,
    resolver: &'static str,
    rtol: f64,
    g: Graph,
    dense: Vec<u8>,
    sparse: Vec<u8>,
}

/// Each model of `MODELS` that is present, pruned.
fn pruned_models() -> Vec<Pruned> {
    MODELS
        .into_iter()
        .filter_map(|(model, resolver, rtol)| {
            let path = require(&shared().join("models").join(model))?;
            let bytes = std::fs::read(&path).expect("readable");
            let mut g = import_tflite_bytes(&bytes, "model").expect("import");
            prune(&mut g);
            let dense = export_tflite(&g).unwrap_or_else(|e| panic!("{model}: {e}"));
            let sparse = export_tflite_with(&g, &SPARSE).unwrap_or_else(|e| panic!("{model}: {e}"));
            Some(Pruned {
                model,
                resolver,
                rtol,
                g,
                dense,
                sparse,
            })
        })
        .collect()
}

#[test]
fn sparse_exports_are_smaller_and_import_to_the_dense_constants() {
    let mut total = (0, 0);
    for Pruned {
        model: m,
        g,
        dense,
        sparse,
        ..
    } in pruned_models()
    {
        let d = import_tflite_bytes(&dense, "dense").expect("dense re-import");
        let s = import_tflite_bytes(&sparse, "sparse").unwrap_or_else(|e| panic!("{m}: {e}"));
        assert!(
            computation(&s) == computation(&d),
            "{m}: the sparse file imports to other ops or constants than the dense one"
        );
        let x = inputs(&g, 1);
        assert_eq!(
            run(&s, &x).expect("runs"),
            run(&g, &x).expect("runs"),
            "{m}"
        );
        println!(
            "{m}: dense {} bytes, sparse {} bytes ({:.1} % smaller)",
            dense.len(),
            sparse.len(),
            100.0 * (1.0 - sparse.len() as f64 / dense.len() as f64)
        );
        assert!(
            sparse.len() < dense.len(),
            "{m}: the sparse file is not smaller"
        );
        total = (total.0 + dense.len(), total.1 + sparse.len());
    }
    println!("all: dense {} bytes, sparse {} bytes", total.0, total.1);
}

#[test]
fn unpruned_models_keep_their_dense_weights() {
    // Dense weights never get smaller sparse, so the file is the dense export.
    let models = MODELS.map(|(m, _, _)| m);
    for m in models.into_iter().chain(["hello_world_int8.tflite"]) {
        let Some(path) = require(&shared().join("models").join(m)) else {
            continue;
        };
        let g = import_tflite_bytes(&std::fs::read(&path).expect("readable"), "m").expect("ok");
        let dense = export_tflite(&g).expect("export");
        assert!(
            export_tflite_with(&g, &SPARSE).expect("export") == dense,
            "{m}"
        );
    }
}

/// Writes tensors as `dir/PREFIX_k.npy`.
fn save(dir: &Path, prefix: &str, ts: &[Tensor]) -> Vec<PathBuf> {
    ts.iter()
        .enumerate()
        .map(|(k, t)| {
            let p = dir.join(format!("{prefix}_{k}.npy"));
            write_npy(&p, t).expect("npy written");
            p
        })
        .collect()
}

#[test]
fn litert_runs_sparse_exports_like_dense_ones() {
    let Some(python) = python() else { return };
    let dir = tempdir();
    let mut failures = vec![];
    for Pruned {
        model: m,
        resolver,
        rtol,
        g,
        dense,
        sparse,
    } in pruned_models()
    {
        let stem = Path::new(m)
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("stem");
        let (dp, sp) = (
            dir.path().join(format!("{stem}_dense.tflite")),
            dir.path().join(format!("{stem}_sparse.tflite")),
        );
        std::fs::write(&dp, &dense).expect("written");
        std::fs::write(&sp, &sparse).expect("written");
        for seed in 0..2 {
            let x = inputs(&g, 10 + seed);
            let want = run(&g, &x).expect("interpreter runs");
            let (ins, outs) = (save(dir.path(), "in", &x), save(dir.path(), "out", &want));
            let dense_arg = dp.to_str().expect("utf-8 path");
            let extra = ["--dense", dense_arg, "--resolver", resolver];
            match python_check(
                &python,
                "check_tflite_sparse.py",
                &sp,
                &ins,
                &outs,
                &extra,
                rtol,
            ) {
                Ok(line) => println!("{m} seed {seed}: {}", line.trim()),
                Err(e) => failures.push(format!("{m} seed {seed}: {e}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cli_export_sparse() {
    let Some(model) = require(&shared().join("models/generated/digits_cnn_int8.tflite")) else {
        return;
    };
    let dir = tempdir();
    let mut g = import_tflite_bytes(&std::fs::read(&model).expect("readable"), "m").expect("ok");
    prune(&mut g);
    let pruned = dir.path().join("pruned.tflite");
    std::fs::write(&pruned, export_tflite(&g).expect("export")).expect("written");
    let out = dir.path().join("sparse.tflite");
    let p = pruned.to_str().expect("utf-8 path");
    nnopt_ok(&["export", p, "--sparse", "-o", out.to_str().expect("utf-8")]);
    let bytes = std::fs::read(&out).expect("written");
    assert!(bytes.len() < std::fs::metadata(&pruned).expect("exists").len() as usize);
    let back = import_tflite_bytes(&bytes, "back").expect("re-import");
    let x = inputs(&g, 3);
    assert_eq!(run(&back, &x).expect("runs"), run(&g, &x).expect("runs"));
    let onnx = dir.path().join("sparse.onnx");
    let r = nnopt(&["export", p, "--sparse", "-o", onnx.to_str().expect("utf-8")]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains(".tflite"), "{err}");
}
