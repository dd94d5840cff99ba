//! `nnopt compress`: search per-layer weight bits and sparsity under a budget of encoded
//! weight bytes, and write the compressed model.

use super::common::{file_stem, output_path, shorten, to_json, ThreadsArg};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nnopt::compile::compile_npu;
use nnopt::compress::{compress, npu_options, CompressReport, CompressRequest};
use nnopt::output::write_all_atomically;
use nnopt::train::data::{load_csv, load_idx_dir, Dataset};
use nnopt::{Error, Result};
use nnopt_udc::{Progress, SearchOptions};
use std::path::PathBuf;

pub const EXAMPLES: &str = "Examples:
  nnopt compress digits_cnn_float.tflite --budget 2KiB --data digits.csv.gz -o digits.npub
  nnopt compress dscnn.onnx --budget 8KiB --data-dir /usr/share/datasets/fashion-mnist \\
      --warmup-epochs 10 --report udc.html -o dscnn_udc.tflite
  nnopt compress model.onnx --budget 24576 --data train.csv --val test.csv --json -o m.onnx
  nnopt compress model.tflite --budget 24KiB --data train.csv --sparse -o m_sparse.tflite

The budget is in encoded weight bytes: weights, biases and requantization records, the
weight_encoded_bytes that `nnopt compile --json` prints for the result (a bare number is
bytes; KiB and MiB are accepted). The result never exceeds it; compiling the written
.tflite or .onnx with `nnopt compile --target npu` gives the same bytes.

Data: --data is CSV (optionally .gz), features then an integer label per row, features
divided by their largest absolute value; every fifth row is the test split unless --val
gives one. --data-dir reads IDX files (MNIST's format, as Fashion-MNIST ships them, gzip
or not): train-* for training, t10k-* for testing.

Stages: float warm-up (--warmup-epochs), the search over each layer's bits (2, 3, 4, 5,
6, 8) and sparsity (--epochs), quantization-aware fine-tuning (--finetune-epochs), and
greedy budget steps if needed. A tenth of the training rows is held out for the search's
decisions; accuracies are on the test split. The baselines (dense int8, global magnitude
pruning with int8 and int4 weights, greedy per-layer bits) run at the same budget.";

/// Arguments of `nnopt compress`.
#[derive(Args)]
pub struct CompressArgs {
    /// Float model (ONNX, TFLite or .nnir) whose output is the class scores.
    model: PathBuf,
    /// Encoded weight bytes the result must fit: a number of bytes, or with a KiB or
    /// MiB suffix (24KiB).
    #[arg(long, value_parser = parse_size)]
    budget: usize,
    /// Training data: a CSV file (.csv or .csv.gz) of features and a label per row.
    #[arg(
        long,
        required_unless_present = "data_dir",
        conflicts_with = "data_dir"
    )]
    data: Option<PathBuf>,
    /// Training data: a directory of IDX files (train-images-idx3-ubyte[.gz] and the
    /// labels, t10k-* for testing).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Test data replacing the data's own test split: a CSV file, or an IDX directory
    /// (its t10k files).
    #[arg(long)]
    val: Option<PathBuf>,
    /// Epochs of the search.
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    /// Epochs of float training before the search (0 for a trained model).
    #[arg(long, default_value_t = 2)]
    warmup_epochs: usize,
    /// Epochs of quantization-aware fine-tuning of the chosen plan (and again after
    /// budget steps).
    #[arg(long, default_value_t = 3)]
    finetune_epochs: usize,
    /// Samples per training step.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Learning rate of SGD (momentum 0.9, cosine decay; fine-tuning starts at half). The
    /// default suits a trained model (0.05 diverged on the pretrained digits CNN); raise
    /// it to train from fresh weights (the Fashion-MNIST DS-CNN: 0.05).
    #[arg(long, default_value_t = 0.01)]
    learning_rate: f32,
    /// Write the float model after the warm-up (.onnx or .tflite), to start later runs
    /// from with --warmup-epochs 0.
    #[arg(long, value_name = "FILE")]
    save_float: Option<PathBuf>,
    /// Skip the baselines.
    #[arg(long)]
    no_baselines: bool,
    /// Seed of shuffling and of the search's Gumbel noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write an HTML report: accuracy against bytes with the baselines, per-layer
    /// choices.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the result as JSON: per-layer bits, sparsity and bytes, accuracy and size
    /// before and after, the baselines.
    #[arg(long)]
    json: bool,
    /// With a .tflite output: store the sparse weights in TFLite's sparse tensor format
    /// (CSR), each expanded by a DENSIFY operator, where that is smaller.
    #[arg(long)]
    sparse: bool,
    /// Output: .npub (NPU binary), .tflite or .onnx (int8) [default: MODEL_udc.npub].
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    threads: ThreadsArg,
}

/// `--budget`: bytes, or a number with a KiB or MiB suffix.
fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let (number, unit) = match t {
        _ if t.ends_with("KiB") => (&t[..t.len() - 3], 1024.0),
        _ if t.ends_with("MiB") => (&t[..t.len() - 3], 1024.0 * 1024.0),
        _ if t.ends_with('B') => (&t[..t.len() - 1], 1.0),
        _ => (t, 1.0),
    };
    let v: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size (bytes, or a number with KiB or MiB)"))?;
    let bytes = (v * unit).floor();
    if !(1.0..=1e12).contains(&bytes) {
        return Err(format!("{s} is not a size from 1 byte to 1 TB"));
    }
    Ok(bytes as usize)
}

pub fn run(a: CompressArgs) -> Result<()> {
    a.threads.install(|| compress_model(&a))
}

/// The training data, with `--val` as its test split when given.
fn load_data(a: &CompressArgs) -> Result<Dataset> {
    let mut data = match (&a.data, &a.data_dir) {
        (Some(csv), _) => load_csv(csv)?,
        (None, Some(dir)) => load_idx_dir(dir)?,
        (None, None) => return Err(Error::new("give --data or --data-dir")),
    };
    let Some(val) = &a.val else {
        return Ok(data);
    };
    let test = if val.is_dir() {
        let d = load_idx_dir(val)?;
        let rows = d.test_rows.clone();
        (d, rows)
    } else {
        let d = load_csv(val)?;
        let rows = (0..d.samples.len()).collect();
        (d, rows)
    };
    let (t, rows) = test;
    if t.samples.row_len != data.samples.row_len {
        return Err(Error::new(format!(
            "has {} features a row, the training data {}",
            t.samples.row_len, data.samples.row_len
        ))
        .in_file(val));
    }
    // Rows of a CSV file are divided by the training file's scale, as the model sees them.
    let rescale = t.feature_scale / data.feature_scale;
    data.train_rows.append(&mut data.test_rows);
    data.train_rows.sort_unstable();
    let offset = data.samples.len();
    for &r in &rows {
        let n = data.samples.row_len;
        let row = &t.samples.values[r * n..(r + 1) * n];
        data.samples.values.extend(row.iter().map(|v| v * rescale));
        data.samples.labels.push(t.samples.labels[r]);
    }
    data.test_rows = (offset..offset + rows.len()).collect();
    data.classes = data.classes.max(t.classes);
    Ok(data)
}

fn compress_model(a: &CompressArgs) -> Result<()> {
    let out = output_path(a.output.as_deref(), &a.model, "_udc", "npub")?;
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if !matches!(ext.as_str(), "npub" | "tflite" | "onnx") {
        return Err(Error::new("the output must be .npub, .tflite or .onnx").in_file(&out));
    }
    if a.sparse && ext != "tflite" {
        return Err(Error::new("--sparse needs a .tflite output").in_file(&out));
    }
    let g = nnopt::load_model(&a.model)?;
    let data = load_data(a)?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps {msg}",
        )
        .expect("valid template"),
    );
    let progress = Progress::new(
        |stage, steps| {
            bar.set_prefix(stage.to_string());
            bar.set_length(steps);
            bar.set_position(0);
        },
        |loss| {
            bar.inc(1);
            if bar.position().is_multiple_of(50) {
                bar.set_message(format!("loss {loss:.3}"));
            }
        },
    );
    let req = CompressRequest {
        search: SearchOptions {
            search_epochs: a.epochs,
            finetune_epochs: a.finetune_epochs,
            ..SearchOptions::new(a.budget)
        },
        warmup_epochs: a.warmup_epochs,
        batch: a.batch as usize,
        learning_rate: a.learning_rate,
        baselines: !a.no_baselines,
        seed: a.seed,
    };
    let result = compress(&g, &data, &req, &progress).map_err(|e| e.in_file(&a.model))?;
    bar.finish_and_clear();
    let bytes = match ext.as_str() {
        "npub" => compile_npu(result.graph.clone(), &npu_options()?)?.binary,
        "tflite" => nnopt::formats::tflite::export_tflite_with(
            &result.graph,
            &nnopt::formats::tflite::TfliteExportOptions {
                sparse_weights: a.sparse,
            },
        )?,
        _ => nnopt::formats::onnx::export_onnx(&result.graph)?,
    };
    let mut files = vec![(out.clone(), bytes)];
    if let Some(path) = &a.save_float {
        let float = match path.extension().is_some_and(|e| e == "tflite") {
            true => nnopt::formats::tflite::export_tflite(&result.float)?,
            false => nnopt::formats::onnx::export_onnx(&result.float)?,
        };
        files.push((path.clone(), float));
    }
    if let Some(path) = &a.report {
        let html = nnopt::report::udc::render_html(&file_stem(&a.model), &result.report)?;
        files.push((path.clone(), html.into_bytes()));
    }
    write_all_atomically(&files)?;
    if a.json {
        println!("{}", to_json(&result.report));
    } else {
        print!("{}", render_table(&result.report));
        println!("wrote {}", out.display());
        if let Some(p) = &a.report {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

/// The result as text: before, after and the baselines, then each layer's choice.
fn render_table(r: &CompressReport) -> String {
    let mut s = format!(
        "budget {} bytes; float accuracy {:.2} % on {} test rows\n\n",
        r.budget,
        100.0 * r.float_accuracy,
        r.test_rows
    );
    s += &format!(
        "{:<28} {:>10} {:>9} {:>10}\n",
        "model", "bytes", "vs int8", "accuracy"
    );
    let rows = [&r.before, &r.after].into_iter().chain(&r.baselines);
    for m in rows {
        s += &format!(
            "{:<28} {:>10} {:>8.2}x {:>9.2} %\n",
            m.name,
            m.bytes,
            r.before.bytes as f64 / m.bytes.max(1) as f64,
            100.0 * m.accuracy
        );
    }
    for u in &r.unreachable_baselines {
        s += &format!("{:<28} cannot meet the budget: {}\n", u.name, u.reason);
    }
    s += &format!(
        "\n{:<40} {:>5} {:>9} {:>8} {:>8}\n",
        "layer", "bits", "sparsity", "weights", "bytes"
    );
    for l in &r.layers {
        s += &format!(
            "{:<40} {:>5} {:>8.1}% {:>8} {:>8}\n",
            shorten(&l.layer, 40),
            l.bits,
            100.0 * l.sparsity,
            l.weights,
            l.bytes
        );
    }
    s += &format!(
        "\nsearch {:.1} s (search, fine-tuning, budget steps), total {:.1} s\n",
        r.search_seconds, r.total_seconds
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("24KiB"), Ok(24 * 1024));
        assert_eq!(parse_size("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_size("2000"), Ok(2000));
        assert_eq!(parse_size("2000B"), Ok(2000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12kb").is_err());
        assert!(parse_size("-5").is_err());
    }
}
