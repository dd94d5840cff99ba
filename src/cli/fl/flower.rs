//! `nnopt fl flower`: the federation on a localhost Flower deployment.

use super::FederationArgs;
use crate::cli::common::to_json;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nnopt::flower::{run_on_flower, FlowerOptions};
use nnopt::report::fl::render_table;
use nnopt::Result;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `nnopt fl flower`.
#[derive(Args)]
pub struct FlowerArgs {
    #[command(flatten)]
    federation: FederationArgs,
    /// Python with Flower (flwr 1.42) and nnopt's bindings installed; Flower's commands
    /// are taken from its directory.
    #[arg(long, default_value = "python3")]
    python: PathBuf,
    /// Keep the SuperLink's, SuperNodes' and run's logs in this directory.
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Give up (and stop every process) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    timeout: u64,
    /// Print one JSON object for tools (as `fl simulate --json`) instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs `nnopt fl flower`.
pub fn run(a: &FlowerArgs) -> Result<()> {
    let f = &a.federation;
    if !f.participation().is_default() {
        return Err(nnopt::Error::new(
            "--participation on-change and --drift are for fl simulate; Flower runs every client every round on fixed data",
        ));
    }
    let (program, _) = nnopt::train::ntp::load(&f.program)?;
    nnopt::train::data::load_dataset(&f.data)?;
    let opts = f.options(&program)?;
    let flower = FlowerOptions {
        python: a.python.clone(),
        log_dir: a.log_dir.clone(),
        timeout: Duration::from_secs(a.timeout),
    };
    let bar = ProgressBar::new(opts.rounds as u64).with_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} on Flower, round {pos}/{len} [{elapsed_precise}] {wide_bar}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(opts.precision.name());
    bar.enable_steady_tick(Duration::from_millis(200));
    let sim = run_on_flower(&f.program, &f.data, &opts, &flower, |r| {
        bar.set_position(r as u64)
    });
    bar.finish_and_clear();
    let sim = sim?;
    for w in &sim.warnings {
        nnopt::diagnostics::warn(&format!("{} run: {w}", sim.precision));
    }
    if a.json {
        // Through a JSON value, as `fl simulate --json` prints (f32 settings widened).
        println!(
            "{}",
            to_json(&serde_json::to_value(&sim).expect("simulation serializes"))
        );
    } else {
        print!("{}", render_table(&sim, 10));
    }
    Ok(())
}
