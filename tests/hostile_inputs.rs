//! Hostile and damaged inputs, one test per finding of the hardening issue: each was a
//! panic, an abort, a hang or a silent wrong result, and is now a clear error (or a
//! warning) naming the file, quickly and without a large allocation.

mod common;

use common::container::{element, patch, plain_root, reseal, root, vector};
use common::npu::npu_options;
use common::{lcg_step, nnopt, repo, require, shared, tempdir};
use nnopt::compile::compile_npu;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest any rejection may take (a debug build on a loaded machine).
const QUICK: Duration = Duration::from_secs(10);

fn digits_int8() -> PathBuf {
    repo().join("examples/models/digits_cnn_int8.tflite")
}

fn digits_binary() -> Vec<u8> {
    compile_npu(nnopt::load_model(&digits_int8()).unwrap(), &npu_options())
        .unwrap()
        .binary
}

/// `nnopt ARGS` fails with exit status 1, quickly, and its stderr contains `want`.
fn fails_with(args: &[&str], want: &str) {
    let start = Instant::now();
    let out = nnopt(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "nnopt {args:?}: {stderr}");
    assert!(stderr.contains(want), "nnopt {args:?}: {stderr}");
    assert!(
        start.elapsed() < QUICK,
        "nnopt {args:?} took {:?}",
        start.elapsed()
    );
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

/// Finding 1: element counts of a weight block are checked before anything is decoded
/// or allocated (a crafted count spun for 43 s or allocated 4 GB).
#[test]
fn f1_npub_weight_counts_are_bounded_before_decoding() {
    let dir = tempdir();
    let file = digits_binary();
    let block = element(&file, root(&file), 7, 0);
    // weights_len (field 1), zero_points_len (3), bias_len (5), requant_len (7).
    for field in [1, 3, 5, 7] {
        let mut f = file.clone();
        patch(&mut f, block, field, &0xFFFF_FFF0u32.to_le_bytes());
        let p = write(dir.path(), &format!("field{field}.npub"), &f);
        fails_with(&["inspect", &p], "NPU binary is malformed");
        fails_with(&["run", &p, "--random"], "NPU binary is malformed");
    }
    // A file found by mutation whose adaptive stream decoded for 52 s.
    let spin = repo().join("tests/fuzz/npub/decode-spin.npub");
    fails_with(&["inspect", spin.to_str().unwrap()], "malformed");
}

/// Finding 2: the arena size is checked (`run` panicked with "capacity overflow",
/// `inspect` printed 18446744073709551615 bytes).
#[test]
fn f2_npub_arena_size_is_bounded() {
    let dir = tempdir();
    let mut f = digits_binary();
    let r = root(&f);
    patch(&mut f, r, 2, &u64::MAX.to_le_bytes());
    let p = write(dir.path(), "arena.npub", &f);
    fails_with(&["inspect", &p], "malformed");
    fails_with(&["run", &p, "--random"], "malformed");
}

/// Finding 3: zero points outside their type's range and non-positive scales are import
/// errors (a zero point of 300 panicked the interpreter or printed 127 with exit 0).
#[test]
fn f3_quantization_parameters_are_checked_at_import() {
    let Some(model) = require(&shared().join("models/hello_world_int8.tflite")) else {
        return;
    };
    let dir = tempdir();
    let bytes = std::fs::read(model).unwrap();
    let replace = |from: &[u8], to: &[u8]| {
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        let mut b = bytes.clone();
        b[at..at + to.len()].copy_from_slice(to);
        b
    };
    for zp in [300i64, -300] {
        let p = write(
            dir.path(),
            "zp.tflite",
            &replace(&(-128i64).to_le_bytes(), &zp.to_le_bytes()),
        );
        for cmd in [
            &["inspect", &p][..],
            &["run", &p, "--random"],
            &["compile", &p],
        ] {
            fails_with(cmd, &format!("zero point {zp}"));
        }
    }
    // The input's scale 0.024480116 set to 0.
    let p = write(
        dir.path(),
        "scale.tflite",
        &replace(&0.024_480_116f32.to_le_bytes(), &0f32.to_le_bytes()),
    );
    fails_with(
        &["compile", &p],
        "has no quantization parameters (in TFLite, a scale of 0)",
    );
}

/// Finding 4: sizes in IR text are overflow-checked against the allocation limit (an
/// overflowing constant and a 2^32 x 2^32 input panicked).
#[test]
fn f4_ir_text_sizes_are_overflow_checked() {
    let dir = tempdir();
    let constant = "graph \"g\"(%x) {\n  %x: f32[1,4] = input\n  \
                    %c: f32[4294967296,4294967297] = const [1.0]\n  %y: f32[1,4] = identity(%x)\n  \
                    return %y\n}\n";
    let p = write(dir.path(), "c.nnir", constant.as_bytes());
    fails_with(&["run", &p, "--random"], "constant is too large");
    for dims in ["4294967296,4294967296", "65536,65536"] {
        let input = format!(
            "graph \"g\"(%x) {{\n  %x: f32[{dims}] = input\n  %y: f32[{dims}] = identity(%x)\n  \
             return %y\n}}\n"
        );
        let p = write(dir.path(), "i.nnir", input.as_bytes());
        fails_with(&["run", &p, "--random"], "is too large");
        fails_with(&["inspect", &p], "is too large");
    }
}

/// A `.npy` file of version 1 with header `dict` and `data`.
fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict.as_bytes());
    out.extend(data);
    out
}

/// Finding 5: a `.npy` header's shape and length are checked against the file before
/// allocating (512 GiB and 4 GB allocations aborted).
#[test]
fn f5_npy_sizes_are_checked_before_allocating() {
    let dir = tempdir();
    let model = digits_int8();
    let model = model.to_str().unwrap();
    let big = npy(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 8, 8, 1), }",
        &[0; 256],
    );
    let p = write(dir.path(), "big.npy", &big);
    fails_with(&["run", model, "-i", &p], "is too large");
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend(0xFFFF_FFF0u32.to_le_bytes());
    v2.extend(b"{}");
    let p = write(dir.path(), "v2.npy", &v2);
    fails_with(
        &["run", model, "-i", &p],
        "the header claims 4294967280 bytes",
    );
}

/// Finding 6: pipeline options and nesting are bounded (`samples: 1000000000` allocated
/// 24 GB; 100k-deep YAML took over 10 s).
#[test]
fn f6_pipeline_options_and_nesting_are_bounded() {
    let dir = tempdir();
    let model = digits_int8();
    let model = model.to_str().unwrap();
    let samples = "passes:\n  - name: quantize-int8\n    options: {samples: 1000000000}\n";
    let p = write(dir.path(), "samples.yaml", samples.as_bytes());
    fails_with(
        &["opt", model, "--pipeline", &p],
        "option samples = 1000000000 is more than its limit 4096",
    );
    let deep = format!("passes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let p = write(dir.path(), "deep.yaml", deep.as_bytes());
    fails_with(
        &["opt", model, "--pipeline", &p],
        "nested more than 64 levels",
    );
}

/// Finding 7: a failing stdout is a clear error with exit status 1 (it panicked with 101).
#[test]
fn f7_a_full_stdout_is_an_error_not_a_panic() {
    let Ok(full) = std::fs::File::options().write(true).open("/dev/full") else {
        return;
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nnopt"))
        .args(["opt", digits_int8().to_str().unwrap()])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write to stdout: No space left on device"),
        "{stderr}"
    );
}

/// Finding 8: no silent wrong results: truncated export dimensions, NaN calibration data,
/// models without outputs, and resealed mutants of a binary (which either fail the one
/// validator that nnopt and its firmware runtime share, or run without a panic).
#[test]
fn f8_no_silent_wrong_results() {
    let dir = tempdir();
    let zero = "graph \"g\"(%x) {\n  %x: f32[0,4294967296] = input\n  \
                %y: f32[0,4294967296] = identity(%x)\n  return %y\n}\n";
    let p = write(dir.path(), "zero.nnir", zero.as_bytes());
    let out = dir.path().join("zero.tflite");
    fails_with(
        &["export", &p, "-o", out.to_str().unwrap()],
        "more than TFLite's int32 shapes can store",
    );
    assert!(!out.exists());

    let float = repo().join("examples/models/digits_cnn_float.tflite");
    let mut values = vec![0u8; 4 * 64];
    values[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8, 8, 1), }";
    let nan = write(dir.path(), "nan.npy", &npy(dict, &values));
    fails_with(
        &["compile", float.to_str().unwrap(), "--calibration", &nan],
        "calibration data has 1 NaN or infinite values",
    );
    let run = nnopt(&["run", float.to_str().unwrap(), "-i", &nan]);
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("1 of 64 values are NaN"));
    fails_with(
        &["run", digits_int8().to_str().unwrap(), "-i", &nan],
        "they have no quantized code",
    );

    if let Some(model) = require(&shared().join("models/hello_world_int8.tflite")) {
        let mut f = std::fs::read(model).unwrap();
        let subgraph = element(&f, plain_root(&f), 2, 0);
        let outputs = vector(&f, subgraph, 2);
        f[outputs..outputs + 4].copy_from_slice(&0u32.to_le_bytes());
        let p = write(dir.path(), "no_outputs.tflite", &f);
        fails_with(&["run", &p, "--random"], "the model has no outputs");
    }

    let file = digits_binary();
    let mut seed = 11u64;
    let mut next = move || lcg_step(&mut seed) >> 11;
    let (mut accepted, total) = (0, 600);
    for _ in 0..total {
        let mut f = file.clone();
        for _ in 0..1 + next() % 4 {
            let at = 20 + (next() as usize) % (f.len() - 20);
            f[at] = match next() % 3 {
                0 => next() as u8,
                1 => 0xff,
                _ => f[at] ^ 1,
            };
        }
        reseal(&mut f);
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            nnopt::backends::npu::binary::read(&f).map(|(p, _)| {
                let inputs: Vec<_> = p
                    .inputs
                    .iter()
                    .map(|b| nnopt::compiler::ir::Tensor::zeros(b.dtype, &b.shape))
                    .collect();
                let _ = nnopt::backends::npu::vnpu::run(&p, &inputs);
            })
        }))
        .expect("loading and running a resealed mutant never panics");
        if loaded.is_ok() {
            accepted += 1;
            assert!(
                nnopt_rt::Model::load(&f).is_ok(),
                "nnopt accepts a binary its firmware runtime rejects"
            );
        }
    }
    println!("{accepted} of {total} resealed mutants passed validation");
}

/// Finding 9: the outputs of one command are written together: a failing report leaves
/// no binary, and a killed writer's temporary file is removed by the next write.
#[test]
fn f9_outputs_are_written_together() {
    let dir = tempdir();
    let out = dir.path().join("m.npub");
    let report = dir.path().join("no/such/dir/r.html");
    let model = digits_int8();
    let args = [
        "compile",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    fails_with(&args, "r.html: cannot write");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(left.len(), 0, "nothing is written: {left:?}");
    let stale = dir.path().join(".m.npub.tmp-0");
    std::fs::write(&stale, b"a killed compile's partial binary").unwrap();
    let out = nnopt(&[
        "compile",
        model.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(!stale.exists());
}

/// Finding 10: each kind of damaged `.npy` file has its own message (all had the same).
#[test]
fn f10_npy_damage_has_distinct_messages() {
    let dir = tempdir();
    let model = digits_int8();
    let model = model.to_str().unwrap();
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 8, 8, 1), }";
    let good = npy(dict, &[0; 256]);
    let mut v9 = good.clone();
    v9[6] = 9;
    let f16 = npy(
        "{'descr': '<c8', 'fortran_order': False, 'shape': (1, 8, 8, 1), }",
        &[0; 512],
    );
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "trunc",
            good[..good.len() - 10].to_vec(),
            "needs 256 data bytes, the file has 246",
        ),
        (
            "trail",
            [&good[..], b"xx"].concat(),
            "2 bytes of trailing data",
        ),
        ("header", npy("garbage", &[]), "bad .npy header"),
        ("v9", v9, "unsupported .npy format version 9.0"),
        ("empty", vec![], "shorter than the 10-byte preamble"),
        ("complex", f16, "unsupported .npy element type '<c8'"),
    ];
    for (name, bytes, want) in cases {
        let p = write(dir.path(), &format!("{name}.npy"), &bytes);
        fails_with(&["run", model, "-i", &p], want);
    }
}
