//! Helpers shared by the subcommands.

use std::path::Path;

/// Pretty-printed JSON of a summary, for `--json`.
pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("summaries serialize")
}

/// The file stem of `path` (a model's name in reports), or "" when it has none.
pub fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
