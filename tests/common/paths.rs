//! Locations of the repository, the generated test data and the shared models, shared by
//! the root crate's and the workspace crates' integration tests.

use std::path::{Path, PathBuf};

/// The repository root: the nearest folder above the testing crate that holds the
/// workspace's `Cargo.lock`.
pub fn repo() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|p| p.join("Cargo.lock").exists())
        .unwrap_or(manifest)
        .to_path_buf()
}
/// Generated test data (`NNOPT_TESTDATA`, else `<repo>/testdata`).
pub fn testdata() -> PathBuf {
    std::env::var_os("NNOPT_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("testdata"))
}

/// The shared models and data beside the repository.
pub fn shared() -> PathBuf {
    repo().join("../shared")
}

/// Returns `path` if it exists. When it is missing: under CI the test fails; locally it
/// prints a notice and the caller skips.
pub fn require(path: &Path) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "required test input {} is missing (run tools/make_testdata.py)",
            path.display()
        );
    }
    eprintln!(
        "notice: {} is missing; run `bash tools/test.sh` to generate it",
        path.display()
    );
    None
}
