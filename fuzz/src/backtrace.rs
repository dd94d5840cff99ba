//! Where a panic or an abort happened: the first frame of a backtrace (as Rust prints
//! it) outside the standard library and the harness code that captured it.

use std::path::Path;

/// How the standard library's functions begin.
const STD: [&str; 8] = [
    "std::", "core::", "alloc::", "__rust", "rust_", "<std::", "<core::", "<alloc::",
];

/// The first frame of `trace` (a printed backtrace, captured by the code of `file` and
/// `module`, whose frames are passed over with the standard library's) as
/// `function (file:line:column)`, or just the function when the build has no line
/// tables.
pub fn site(trace: &str, file: &str, module: &str) -> Option<String> {
    let mut frames: Vec<(&str, Option<&str>)> = Vec::new();
    for line in trace.lines().map(str::trim) {
        if let Some(at) = line.strip_prefix("at ") {
            if let Some(frame) = frames.last_mut() {
                frame.1 = Some(at);
            }
        } else if let Some((n, function)) = line.split_once(": ") {
            if n.chars().all(|c| c.is_ascii_digit()) {
                frames.push((function, None));
            }
        }
    }
    // With line tables, frames are told apart by their files (inlined frames of the
    // standard library may have none); without, by their functions' paths.
    let lines = frames.iter().any(|f| f.1.is_some());
    let (function, at) = frames.into_iter().find(|&(function, at)| {
        let elsewhere = match at {
            // Paths are relative to the package or the workspace, depending on the build.
            Some(at) => {
                let path = short(at).split(':').next().unwrap_or_default();
                let file = short(file);
                !at.starts_with("/rustc/") && !file.ends_with(path) && !path.ends_with(file)
            }
            None => !lines && !STD.iter().any(|p| function.starts_with(p)),
        };
        elsewhere && !function.contains(module)
    })?;
    Some(match at {
        Some(at) => format!("{function} ({})", short(at)),
        None => function.to_string(),
    })
}

/// A source path without the registry's, the workspace's or the build's prefix.
fn short(file: &str) -> &str {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent();
    let workspace = workspace.and_then(Path::to_str).unwrap_or("/");
    match file.split_once("/registry/src/") {
        Some((_, rest)) => rest.split_once('/').map_or(rest, |(_, f)| f),
        None => file
            .strip_prefix(workspace)
            .map(|f| f.trim_start_matches('/'))
            .unwrap_or(file)
            .trim_start_matches("./"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_the_standard_library_and_the_capturing_code() {
        let trace = "stack backtrace:
   0: std::alloc::rust_oom
             at /rustc/5980/library/std/src/alloc.rs:424:5
   1: from_elem<u8>
   2: {closure#0}
             at ./src/alloc.rs:50:21
   3: nnopt_fuzz::alloc::reserve
   4: from_reader<&[u8]>
             at /root/.cargo/registry/src/index.crates.io-1949/ndarray-npy-0.10.0/src/npy/header.rs:458:23
   5: nnopt::npy::read_npy_stored
             at ./src/npy.rs:24:28";
        assert_eq!(
            site(trace, "fuzz/src/alloc.rs", "nnopt_fuzz::alloc").as_deref(),
            Some("from_reader<&[u8]> (ndarray-npy-0.10.0/src/npy/header.rs:458:23)")
        );
        let release = "   0: std::panicking::begin_panic
   1: nnopt_fuzz::worker::run::{{closure}}
   2: nnopt_compiler::ir::infer::conv";
        assert_eq!(
            site(release, "fuzz/src/worker.rs", "nnopt_fuzz::worker").as_deref(),
            Some("nnopt_compiler::ir::infer::conv")
        );
    }
}
