//! `nnopt passes`: list the passes pipelines can name and the default pipeline.

use nnopt::Result;

/// Examples in `nnopt passes --help`.
pub const EXAMPLES: &str = "Examples:\n  nnopt passes                                  # passes, then the default pipeline\n  nnopt opt model.onnx --print-after constant-folding\n  nnopt opt model.onnx --pipeline my.yaml       # a pipeline naming passes listed here\n\nA pipeline file is YAML: `name:` and `passes:`, each a pass name or `{ name, options }`.";

/// Prints the pass registry and the default pipeline.
pub fn run() -> Result<()> {
    for (name, description) in
        nnopt::registry(std::sync::Arc::new(nnopt::compiler::cost::DefaultCost)).list()
    {
        println!("{name:<24} {description}");
    }
    println!("\ndefault pipeline:\n{}", nnopt::passes::DEFAULT_PIPELINE);
    Ok(())
}
