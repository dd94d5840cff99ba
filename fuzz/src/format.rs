//! The file formats the harness fuzzes, their extensions, and which format a file is.

use clap::ValueEnum;
use serde::Serialize;
use std::path::Path;

/// A kind of input nnopt reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// TFLite models (FlatBuffers).
    Tflite,
    /// ONNX models (protobuf).
    Onnx,
    /// nnopt IR text.
    Nnir,
    /// NPU binaries: nnopt's container around a FlatBuffer.
    Npub,
    /// Training programs: nnopt's container around a FlatBuffer.
    Ntp,
    /// Federated-learning messages: nnopt's container around a FlatBuffer.
    Message,
    /// numpy arrays.
    Npy,
    /// Pass pipelines (YAML).
    Pipeline,
}

impl Format {
    /// Every format, in report order.
    pub const ALL: [Format; 8] = [
        Format::Tflite,
        Format::Onnx,
        Format::Nnir,
        Format::Npub,
        Format::Ntp,
        Format::Message,
        Format::Npy,
        Format::Pipeline,
    ];

    /// The name the command line and reports use.
    pub fn name(self) -> &'static str {
        match self {
            Format::Tflite => "tflite",
            Format::Onnx => "onnx",
            Format::Nnir => "nnir",
            Format::Npub => "npub",
            Format::Ntp => "ntp",
            Format::Message => "message",
            Format::Npy => "npy",
            Format::Pipeline => "pipeline",
        }
    }

    /// The extension of its files (FL messages have none of their own: `.nflm`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Message => "nflm",
            Format::Pipeline => "yaml",
            other => other.name(),
        }
    }

    /// The format a file holds, by its extension (`.yml` too).
    pub fn of_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        if ext == "yml" {
            return Some(Format::Pipeline);
        }
        Format::ALL.into_iter().find(|f| f.extension() == ext)
    }

    /// The format a directory name says (`tests/fuzz/<format>/`).
    pub fn of_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }
}
