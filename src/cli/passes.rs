//! `nnopt passes`: list the passes pipelines can name and the default pipeline.

use nnopt::Result;

/// Prints the pass registry and the default pipeline.
pub fn run() -> Result<()> {
    for (name, description) in nnopt::passes::registry().list() {
        println!("{name:<24} {description}");
    }
    println!("\ndefault pipeline:\n{}", nnopt::passes::DEFAULT_PIPELINE);
    Ok(())
}
