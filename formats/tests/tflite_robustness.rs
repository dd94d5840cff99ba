//! Truncated and bit-flipped copies of every shared model must be rejected with an error
//! (truncation) or imported/rejected cleanly (bit flips), never panic.
//!
//! The MediaPipe files end with up to 16 bytes that no table or vector references, so
//! removing only those leaves a valid model; every cut that removes more than
//! `TRAILING_SLACK` bytes must fail.

mod common;

use common::litert::{all_models, available, models_dir};
use nnopt_formats::tflite::import_tflite_bytes;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Trailing bytes a model may lose and still be a valid flatbuffer.
const TRAILING_SLACK: usize = 16;

/// Imports `bytes`; returns Ok(imported?) or Err(panic message).
fn try_import(bytes: &[u8]) -> Result<bool, String> {
    catch_unwind(AssertUnwindSafe(|| {
        import_tflite_bytes(bytes, "mutant").is_ok()
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[test]
fn truncated_models_give_errors() {
    if !available(&models_dir()) {
        return;
    }
    let models = all_models();
    assert!(!models.is_empty());
    let mut problems = Vec::new();
    for m in &models {
        let bytes = std::fs::read(m).expect("readable");
        let n = bytes.len();
        let mut cuts: Vec<usize> = vec![
            0,
            1,
            4,
            7,
            8,
            12,
            16,
            64,
            n - 1,
            n - 2,
            n - 4,
            n - 8,
            n - 16,
        ];
        cuts.extend((1..40).map(|k| n * k / 40));
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts.into_iter().filter(|&c| c < n) {
            match try_import(&bytes[..cut]) {
                Ok(false) => {}
                Ok(true) if cut + TRAILING_SLACK < n => problems.push(format!(
                    "{}: truncated to {cut} bytes imported",
                    m.display()
                )),
                Ok(true) => {}
                Err(p) => problems.push(format!(
                    "{}: truncated to {cut} bytes panicked: {p}",
                    m.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn bit_flipped_models_never_panic() {
    if !available(&models_dir()) {
        return;
    }
    let mut problems = Vec::new();
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for m in all_models() {
        let bytes = std::fs::read(&m).expect("readable");
        // Flatbuffer metadata (tables, vtables, offsets) sits mostly near the start and
        // between buffers; flip bits everywhere, with extra weight on the first 4 KiB.
        for k in 0..300 {
            let range = if k % 2 == 0 {
                bytes.len().min(4096)
            } else {
                bytes.len()
            };
            let pos = (next() % range as u64) as usize;
            let bit = (next() % 8) as u8;
            let mut mutant = bytes.clone();
            mutant[pos] ^= 1 << bit;
            if let Err(p) = try_import(&mutant) {
                problems.push(format!(
                    "{}: flipping bit {bit} of byte {pos} panicked: {p}",
                    m.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
