//! `nnopt fixynn`: split a model into a hard-wired front-end (Verilog) shared by tasks
//! and per-task programmable back-ends (.npub); `nnopt fixynn simulate` runs the RTL.

use super::common::{shorten, to_json, ThreadsArg};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nnopt::backends::fixed_frontend::FixedFrontend;
use nnopt::fixynn::manifest::{read_head, Manifest};
use nnopt::fixynn::simulate::{simulate, Simulator};
use nnopt::fixynn::{fixynn, FixynnRequest};
use nnopt::npy::{read_npy, write_npy};
use nnopt::output::write_atomically;
use nnopt::{Error, Result};
use nnopt_fixynn::{PartitionOptions, TaskSource, TrainOptions};
use nnopt_udc::Progress;
use std::path::PathBuf;

pub const EXAMPLES: &str = "Examples:
  nnopt fixynn dscnn.onnx --task-dir /usr/share/datasets/fashion-mnist:0,2,4,6 \\
      --task-dir /usr/share/datasets/fashion-mnist:5,7,8,9 --tasks digits.csv.gz \\
      --report fixynn.html -o dscnn_fixynn
  nnopt fixynn dscnn.onnx --tasks a.csv.gz b.csv.gz --split relu12 --no-synth -o out
  nnopt fixynn dscnn.onnx --tasks a.csv.gz --area-budget 0.5 --json -o out
  nnopt fixynn simulate dscnn_fixynn --input x.npy --output y.npy

Tasks: --tasks takes CSV files (features then an integer label per row, optionally .gz;
every fifth row is the test split), --task-dir IDX directories (MNIST's format: train-*
for training, t10k-* for testing). Append :C1,C2,... to keep those classes only, relabelled
in that order. Square one-channel images of another size are resized bilinearly to the
model's input.

For each split point (a convolution output on the chain from the input; --split picks
one), the int8 front-end is frozen and each task's back-end (the rest of the model with a
fresh classifier) is trained on the front-end's features with int8 weights in the forward
pass, and compared with fine-tuning the whole network for the task. The chosen split is
the most energy-efficient one within --area-budget whose every task loses less than
--max-loss points. OUTDIR gets manifest.json, frontend.nnir (`nnopt run` takes it),
rtl/*.v (the front-end, top module fe_top, valid/ready pixel streams), sim/fe_tb.v with
test vectors, and backends/*.npub. The RTL is simulated on the tasks' test images against
the interpreter and synthesized with Yosys.";

/// `nnopt fixynn` and its subcommand.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct FixynnArgs {
    #[command(subcommand)]
    command: Option<FixynnCommand>,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Subcommand)]
pub enum FixynnCommand {
    /// Run a fixynn output directory's RTL (Verilator or Icarus Verilog) on inputs of
    /// its front-end model and write the front-end's output.
    #[command(
        after_help = "Examples:\n  nnopt fixynn simulate out --input x.npy --output y.npy\n  nnopt fixynn simulate out --input x.npy --output y.npy --simulator icarus --stall\n  nnopt run out/frontend.nnir --input x.npy --output ref.npy   # the same values\n\nThe input is what the front-end model (frontend.nnir) takes, with any batch size:\nreal values are quantized as its quantize node does."
    )]
    Simulate(SimulateArgs),
}

/// Arguments of `nnopt fixynn MODEL`.
#[derive(Args)]
pub struct BuildArgs {
    /// Float model (ONNX, TFLite or .nnir): a CNN ending in a fully connected classifier.
    #[arg(required = true)]
    model: Option<PathBuf>,
    /// Task datasets: CSV files (.csv or .csv.gz), each optionally PATH:C1,C2,... for a
    /// class subset.
    #[arg(long, num_args = 1.., value_name = "CSV")]
    tasks: Vec<String>,
    /// Task datasets: IDX directories, each optionally DIR:C1,C2,... (repeatable).
    #[arg(long, value_name = "DIR")]
    task_dir: Vec<String>,
    /// The split: `auto` searches every split point, or the name of the tensor the
    /// front-end ends at.
    #[arg(long, default_value = "auto")]
    split: String,
    /// Largest front-end area in mm² (DeepFreeze's analytic model).
    #[arg(long, value_name = "MM2")]
    area_budget: Option<f64>,
    /// Largest accuracy loss per task against full fine-tuning, in points.
    #[arg(long, default_value_t = 1.0)]
    max_loss: f64,
    /// Epochs of training each back-end and each full fine-tuning.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Learning rate of SGD (momentum 0.9, cosine decay).
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f32,
    /// Samples per training step.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Most training rows per task (evenly spaced; 0 for all).
    #[arg(long, default_value_t = 0)]
    max_train_rows: usize,
    /// Seed of shuffling and of the fresh classifiers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Simulator checking the RTL on the tasks' test images, or `none`.
    #[arg(long, value_enum, default_value_t = SimulatorArg::Verilator)]
    simulator: SimulatorArg,
    /// Test images per task the RTL is simulated on (0: all).
    #[arg(long, default_value_t = 0)]
    verify_images: usize,
    /// Skip Yosys synthesis.
    #[arg(long)]
    no_synth: bool,
    /// Write an HTML report: the split points' Pareto front, accuracies, PPA.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the manifest as JSON.
    #[arg(long)]
    json: bool,
    /// Output directory.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    threads: ThreadsArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum SimulatorArg {
    Verilator,
    Icarus,
    None,
}

impl SimulatorArg {
    fn simulator(self) -> Option<Simulator> {
        match self {
            SimulatorArg::Verilator => Some(Simulator::Verilator),
            SimulatorArg::Icarus => Some(Simulator::Icarus),
            SimulatorArg::None => None,
        }
    }
}

/// Arguments of `nnopt fixynn simulate`.
#[derive(Args)]
pub struct SimulateArgs {
    /// Output directory of `nnopt fixynn`.
    dir: PathBuf,
    /// The front-end model's input (.npy), any batch size.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the front-end's output (.npy).
    #[arg(long)]
    output: PathBuf,
    #[arg(long, value_enum, default_value_t = SimulatorArg::Verilator)]
    simulator: SimulatorArg,
    /// Drop valid and ready at pseudo-random cycles.
    #[arg(long)]
    stall: bool,
}

pub fn run(a: FixynnArgs) -> Result<()> {
    match a.command {
        Some(FixynnCommand::Simulate(s)) => simulate_dir(&s),
        None => a.build.threads.install(|| build(&a.build)),
    }
}

fn simulate_dir(a: &SimulateArgs) -> Result<()> {
    let sim = a
        .simulator
        .simulator()
        .ok_or_else(|| Error::new("--simulator none cannot simulate"))?;
    let head = read_head(&a.dir)?;
    let model = a.dir.join(&head.frontend_model);
    let g = nnopt::load_model(&model)?;
    let fe = FixedFrontend::from_graph(&g).map_err(|e| e.in_file(&model))?;
    let x = read_npy(&a.input)?;
    let y = simulate(
        &a.dir.join("rtl"),
        &a.dir.join(&head.files.testbench),
        &fe,
        &x,
        sim,
        a.stall,
    )
    .map_err(|e| e.in_file(&a.input))?;
    write_npy(&a.output, &y)?;
    println!(
        "wrote {} ({:?}, {})",
        a.output.display(),
        y.shape(),
        y.dtype()
    );
    Ok(())
}

fn build(a: &BuildArgs) -> Result<()> {
    let model = a.model.as_ref().ok_or_else(|| Error::new("give a model"))?;
    let out = a
        .output
        .clone()
        .ok_or_else(|| Error::new("give the output directory with -o OUTDIR"))?;
    let mut tasks = Vec::new();
    for t in &a.tasks {
        tasks.push(TaskSource::parse(t, false)?);
    }
    for t in &a.task_dir {
        tasks.push(TaskSource::parse(t, true)?);
    }
    if tasks.is_empty() {
        return Err(Error::new(
            "give at least one task with --tasks or --task-dir",
        ));
    }
    if let Some(b) = a.area_budget {
        if !(b.is_finite() && b > 0.0) {
            return Err(Error::new(format!(
                "--area-budget {b} is not a positive area"
            )));
        }
    }
    let req = FixynnRequest {
        tasks,
        partition: PartitionOptions {
            split: (a.split != "auto").then(|| a.split.clone()),
            area_budget: a.area_budget,
            max_loss_points: a.max_loss,
            train: TrainOptions {
                epochs: a.epochs,
                learning_rate: a.learning_rate,
                batch: a.batch as usize,
                seed: a.seed,
                max_train_rows: a.max_train_rows,
            },
            ..PartitionOptions::default()
        },
        simulator: a.simulator.simulator(),
        verify_rows: a.verify_images,
        synthesize: !a.no_synth,
    };
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps {msg}",
        )
        .expect("valid template"),
    );
    let progress = Progress::new(
        |stage, steps| {
            if steps == 0 {
                bar.set_message(stage.to_string());
            } else {
                bar.set_prefix(stage.to_string());
                bar.set_length(steps);
                bar.set_position(0);
            }
        },
        |_| bar.inc(1),
    );
    let manifest = fixynn(model, &out, &req, &progress)?;
    bar.finish_and_clear();
    if let Some(path) = &a.report {
        let html = nnopt::report::fixynn::render_html(&manifest)?;
        write_atomically(path, html.as_bytes())?;
    }
    if a.json {
        println!("{}", to_json(&manifest));
    } else {
        print!("{}", render_table(&manifest));
        println!("wrote {}", out.display());
        if let Some(p) = &a.report {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

/// The split points, the chosen one's tasks and PPA, as text.
fn render_table(m: &Manifest) -> String {
    let mut s = format!(
        "{:<3} {:<20} {:>6} {:>10} {:>10} {:>12} {:>10}\n",
        "", "split", "layers", "mean loss", "max loss", "area mm2", "energy x"
    );
    for p in &m.split_points {
        let mark = match (p.split == m.split_tensor, p.pareto) {
            (true, _) => "*",
            (false, true) => "p",
            _ => "",
        };
        s += &format!(
            "{:<3} {:<20} {:>6} {:>9.2}pt {:>9.2}pt {:>12.4} {:>9.2}x\n",
            mark,
            shorten(&p.split, 20),
            p.layers,
            p.mean_loss_points,
            p.max_loss_points,
            p.ppa.fixed_area_mm2,
            p.ppa.energy_efficiency_ratio
        );
    }
    s += &format!("(* chosen: {}; p: Pareto front)\n\n", m.chosen_reason);
    s += &format!(
        "{:<28} {:>8} {:>10} {:>12} {:>8}\n",
        "task", "classes", "accuracy", "full tune", "loss"
    );
    for t in &m.tasks {
        s += &format!(
            "{:<28} {:>8} {:>9.2}% {:>11.2}% {:>6.2}pt\n",
            shorten(&t.name, 28),
            t.classes,
            100.0 * t.accuracy,
            100.0 * t.full_fine_tune_accuracy,
            t.loss_points
        );
    }
    let d = &m.ppa.deepfreeze;
    s += &format!(
        "\nenergy per inference: hybrid {:.3} uJ (front-end {:.3}, back-end {:.3}) vs \
         all-programmable {:.3} uJ at equal area ({:.3} mm2): {:.2}x; TOPS/W {:.2} vs {:.2}\n",
        d.hybrid_joules * 1e6,
        d.fixed_joules * 1e6,
        d.backend_joules * 1e6,
        d.all_programmable_joules * 1e6,
        d.hybrid_area_mm2,
        d.energy_efficiency_ratio,
        d.hybrid_tops_per_w,
        d.all_programmable_tops_per_w
    );
    let n = &m.ppa.npu_preset;
    s += &format!(
        "with the programmable side on the {} preset (nnopt's performance model): {:.2}x{} ({})\n",
        n.target,
        n.energy_efficiency_ratio,
        n.learned_energy_efficiency_ratio
            .map(|r| format!(", by the learned cost model {r:.2}x"))
            .unwrap_or_default(),
        n.tasks
            .iter()
            .map(|t| format!(
                "{} {:.3} vs {:.3} uJ",
                t.task,
                t.backend_uj + t.fixed_uj,
                t.all_programmable_uj
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if let (Some(y), Some(syn)) = (&m.ppa.yosys, &m.ppa.synthesis) {
        s += &format!(
            "yosys: {} cells, {} transistors, {:.4} mm2 (DeepFreeze model {:.4} mm2); energy ratio {:.2}x ({:.1} s)\n",
            syn.cells, syn.transistors, syn.area_mm2, m.ppa.frontend.area_mm2, y.energy_efficiency_ratio, syn.seconds
        );
    }
    if let Some(v) = &m.verification {
        s += &format!(
            "RTL ({}): {} of {} test images bit-exact with the interpreter ({:.1} s simulating)\n",
            v.simulator, v.bit_exact_images, v.images, v.simulation_seconds
        );
    }
    s += &format!(
        "split search {:.1} s; RTL generation {:.2} s\n",
        m.search_seconds, m.generation_seconds
    );
    s
}
