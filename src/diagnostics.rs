//! How the `nnopt` command reports warnings and errors on stderr: as text
//! (`warning: …`, `error: …`) or, with `--message-format json`, as one JSON object per
//! line for build tools (like cargo's), e.g.
//! `{"reason":"nnopt-message","level":"error","message":"…","file":"m.tflite","node":"conv1","rendered":"error: …"}`.
//! `file` and `node` are null when the message is about neither.

use crate::Error;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Message formats of `--message-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MessageFormat {
    #[default]
    Human,
    Json,
}

/// Sets the format of every later message of this process.
pub fn set_format(f: MessageFormat) {
    JSON.store(f == MessageFormat::Json, Ordering::Relaxed);
}

/// The current format.
pub fn format() -> MessageFormat {
    if JSON.load(Ordering::Relaxed) {
        MessageFormat::Json
    } else {
        MessageFormat::Human
    }
}

/// A diagnostic as the current format renders it (without a trailing newline).
pub fn render(level: &str, message: &str, file: Option<&str>, node: Option<&str>) -> String {
    let mut rendered = format!("{level}: ");
    if let Some(f) = file {
        rendered.push_str(&format!("{f}: "));
    }
    if let Some(n) = node {
        rendered.push_str(&format!("node '{n}': "));
    }
    rendered.push_str(message);
    match format() {
        MessageFormat::Human => rendered,
        MessageFormat::Json => json!({
            "reason": "nnopt-message",
            "level": level,
            "message": message,
            "file": file,
            "node": node,
            "rendered": rendered,
        })
        .to_string(),
    }
}

/// Prints a warning on stderr.
pub fn warn(message: &str) {
    eprintln!("{}", render("warning", message, None, None));
}

/// Prints an error on stderr.
pub fn error(e: &Error) {
    let file = e.file.as_ref().map(|p| p.display().to_string());
    eprintln!(
        "{}",
        render("error", &e.message, file.as_deref(), e.node.as_deref())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_file_node_and_rendering() {
        set_format(MessageFormat::Json);
        let line = render(
            "error",
            "bad \"zero point\"",
            Some("m.tflite"),
            Some("conv1"),
        );
        set_format(MessageFormat::Human);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["file"], "m.tflite");
        assert_eq!(v["node"], "conv1");
        assert_eq!(
            v["rendered"],
            "error: m.tflite: node 'conv1': bad \"zero point\""
        );
        assert_eq!(render("warning", "w", None, None), "warning: w");
    }
}
