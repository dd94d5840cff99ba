//! `nnopt inspect`: describe a model, an NPU binary or a training program.

use clap::Args;
use nnopt::Result;
use std::path::PathBuf;

/// Examples in `nnopt inspect --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt inspect model.onnx\n  nnopt inspect model.tflite --json | jq .macs\n  nnopt inspect model.npub\n  nnopt inspect client.ntp --json";

/// Arguments of `nnopt inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// Model file (.onnx, .tflite, .nnir IR text), NPU binary (.npub) or training
    /// program (.ntp).
    file: PathBuf,
    /// Print JSON for tools instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the description of the file.
pub fn run(args: &InspectArgs) -> Result<()> {
    let inspection = nnopt::inspect(&args.file)?;
    if args.json {
        println!("{}", inspection.to_json());
    } else {
        print!("{}", inspection.render());
    }
    Ok(())
}
