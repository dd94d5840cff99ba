//! `include/nnopt.h` is what cbindgen generates from the crate (`NNOPT_UPDATE_HEADER=1`
//! rewrites it).

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut generated);
    let path = dir.join("include/nnopt.h");
    if std::env::var_os("NNOPT_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == generated,
        "include/nnopt.h is stale: run NNOPT_UPDATE_HEADER=1 cargo test -p nnopt-rt-c --test header"
    );
}
