//! The error type shared by importers, interpreter, passes and backends.

use std::fmt;
use std::path::{Path, PathBuf};

/// An error with the file and node it concerns, when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub file: Option<PathBuf>,
    pub node: Option<String>,
    pub message: String,
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with just a reason.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            file: None,
            node: None,
            message: message.into(),
        }
    }

    /// An error about a node.
    pub fn at_node(node: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            file: None,
            node: Some(node.into()),
            message: message.into(),
        }
    }

    /// Attaches the file, unless one is already set.
    pub fn in_file(mut self, file: &Path) -> Self {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
        }
        self
    }

    /// Attaches the node, unless one is already set.
    pub fn in_node(mut self, node: &str) -> Self {
        if self.node.is_none() {
            self.node = Some(node.to_string());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(node) = &self.node {
            write!(f, "node '{node}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Returns early with an [`Error`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::Error::new(format!($($arg)*))) };
}
