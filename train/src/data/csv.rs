//! Labelled CSV files.

use super::Dataset;
use crate::runtime::Samples;
use nnopt_compiler::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Reads a CSV file (`.csv`, or gzip-compressed `.csv.gz`) of numeric rows: the
/// features, then an integer class label. No header.
pub fn load_csv(path: &Path) -> Result<Dataset> {
    let err = |m: String| Error::new(m).in_file(path);
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut text = String::new();
    let read = if path.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(file).read_to_string(&mut text)
    } else {
        std::io::BufReader::new(file).read_to_string(&mut text)
    };
    read.map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => err("is not a CSV text file (not UTF-8)".into()),
        _ => err(format!("cannot read: {e}")),
    })?;
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut row_len = None;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let line_err = |m: String| err(format!("line {}: {m}", i + 1));
        if fields.len() < 2 {
            return Err(line_err("needs features and a label".into()));
        }
        let n = fields.len() - 1;
        if *row_len.get_or_insert(n) != n {
            return Err(line_err(format!(
                "{n} features, earlier lines have {}",
                row_len.unwrap_or(0)
            )));
        }
        for f in &fields[..n] {
            let v: f32 = f
                .parse()
                .map_err(|_| line_err(format!("'{f}' is not a number")))?;
            if !v.is_finite() {
                return Err(line_err(format!("'{f}' is not finite")));
            }
            values.push(v);
        }
        let label: i64 = fields[n]
            .parse()
            .ok()
            .filter(|&l| (0..1 << 16).contains(&l))
            .ok_or_else(|| line_err(format!("label '{}' is not a class index", fields[n])))?;
        labels.push(label);
    }
    let Some(row_len) = row_len else {
        return Err(err("no data rows".into()));
    };
    if labels.len() < 5 {
        return Err(err(format!(
            "{} rows: too few to hold out a test split",
            labels.len()
        )));
    }
    let max = values.iter().fold(0f32, |m, &v| m.max(v.abs()));
    let feature_scale = if max > 0.0 { max } else { 1.0 };
    values.iter_mut().for_each(|v| *v /= feature_scale);
    let classes = *labels.iter().max().expect("rows") as usize + 1;
    let n = labels.len();
    Ok(Dataset {
        samples: Samples {
            values,
            labels,
            row_len,
        },
        feature_scale,
        test_rows: (0..n).filter(|i| i % 5 == 0).collect(),
        train_rows: (0..n).filter(|i| i % 5 != 0).collect(),
        classes,
    })
}
