//! The regression corpus: every input in `tests/fuzz/<format>/` (inputs that once
//! panicked, aborted or hung) replayed through its target by the driver binary, under
//! the same memory cap and timeout as a campaign; each may be rejected, none may panic,
//! abort or hang.

use std::path::Path;
use std::process::Command;

#[test]
fn corpus_inputs_do_not_panic_abort_or_hang() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz");
    if !corpus.is_dir() {
        return;
    }
    let run = Command::new(env!("CARGO_BIN_EXE_nnopt-fuzz"))
        .arg("replay")
        .arg(&corpus)
        .output()
        .expect("nnopt-fuzz runs");
    let report = String::from_utf8_lossy(&run.stdout);
    println!("{report}");
    assert!(
        run.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&run.stderr)
    );
}
