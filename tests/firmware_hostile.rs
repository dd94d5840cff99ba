//! The firmware runtime on damaged and hostile binaries: every truncation and every bit
//! flip is rejected at load (length and CRC-32); mutants with a recomputed CRC either
//! fail validation or run, and nothing ever panics; declared sizes beyond the caller's
//! buffers are errors.

mod common;

use common::container::reseal;
use common::npu::npu_options;
use common::{lcg_step, repo, require, shared};
use nnopt::compile::compile_npu;
use nnopt_rt::{ErrorKind, Model};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn binary(model: &std::path::Path) -> Vec<u8> {
    let g = nnopt::load_model(model).unwrap();
    compile_npu(g, &npu_options()).unwrap().binary
}

fn small_models() -> Vec<Vec<u8>> {
    let mut out = vec![binary(
        &repo().join("examples/models/digits_cnn_int8.tflite"),
    )];
    if let Some(m) = require(&shared().join("models/hello_world_int8.tflite")) {
        out.push(binary(&m));
    }
    out
}

/// Loads and (if valid) runs `file` on zero inputs; panics only if the runtime does.
fn load_and_run(file: &[u8]) -> Result<(), nnopt_rt::Error> {
    let m = Model::load(file)?;
    if m.arena_size() > 1 << 24 {
        return Ok(());
    }
    let mut arena = vec![0u8; m.arena_size()];
    let ins: Vec<Vec<u8>> = (0..m.num_inputs())
        .map(|i| vec![0; m.input(i).map_or(0, |t| t.size)])
        .collect();
    let mut outs: Vec<Vec<u8>> = (0..m.num_outputs())
        .map(|i| vec![0; m.output(i).map_or(0, |t| t.size)])
        .collect();
    let ins: Vec<&[u8]> = ins.iter().map(Vec::as_slice).collect();
    let mut outs: Vec<&mut [u8]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
    m.run(&mut arena, &ins, &mut outs)
}

#[test]
fn truncations_and_bit_flips_are_rejected() {
    for file in small_models() {
        for n in 0..file.len() {
            assert!(
                Model::load(&file[..n]).is_err(),
                "prefix of {n} bytes loaded"
            );
        }
        let mut padded = file.clone();
        padded.push(0);
        assert_eq!(Model::load(&padded).unwrap_err().kind, ErrorKind::Corrupt);
        for i in 0..file.len() * 8 {
            let mut f = file.clone();
            f[i / 8] ^= 1 << (i % 8);
            assert!(Model::load(&f).is_err(), "bit {i} flipped loaded");
        }
    }
}

#[test]
fn resealed_mutants_never_panic() {
    let mut seed = 7u64;
    let mut next = move || lcg_step(&mut seed) >> 11;
    let (mut loaded, mut total) = (0, 0);
    for file in small_models() {
        for _ in 0..1500 {
            let mut f = file.clone();
            let edits = 1 + next() % 4;
            for _ in 0..edits {
                let at = 20 + (next() as usize) % (f.len() - 20);
                f[at] = match next() % 4 {
                    0 => next() as u8,
                    1 => 0,
                    2 => 0xff,
                    _ => f[at].wrapping_add(1),
                };
            }
            reseal(&mut f);
            total += 1;
            let r = catch_unwind(AssertUnwindSafe(|| load_and_run(&f)));
            match r {
                Ok(Ok(())) => loaded += 1,
                Ok(Err(_)) => {}
                Err(_) => panic!("the runtime panicked on a mutant (seed state {total})"),
            }
        }
    }
    println!("{loaded} of {total} resealed mutants loaded and ran");
}

#[test]
fn declared_sizes_beyond_the_callers_buffers_are_errors() {
    let file = binary(&repo().join("examples/models/digits_cnn_int8.tflite"));
    let m = Model::load(&file).unwrap();
    let input = vec![0u8; m.input(0).unwrap().size];
    let mut output = vec![0u8; m.output(0).unwrap().size];
    let mut small = vec![0u8; m.arena_size() - 1];
    let err = m
        .run(&mut small, &[&input], &mut [&mut output])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::ArenaTooSmall);
    let mut arena = vec![0u8; m.arena_size()];
    let err = m
        .run(&mut arena, &[&input[1..]], &mut [&mut output])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadArgument);
    let err = m
        .run(&mut arena, &[&input], &mut [&mut output[1..]])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadArgument);
    let err = m.run(&mut arena, &[], &mut [&mut output]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadArgument);
    m.run(&mut arena, &[&input], &mut [&mut output]).unwrap();
}
