//! The tasks that share a front-end: labelled datasets (a CSV file or an IDX directory,
//! optionally a subset of its classes, relabelled in the order given) with their images
//! resized to the model's input.

use nnopt_compiler::{bail, Error, Result};
use nnopt_train::data::{load_csv, load_idx_dir, Dataset};
use nnopt_train::runtime::Samples;
use std::path::PathBuf;

/// Where a task's data comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSource {
    pub path: PathBuf,
    /// An IDX directory rather than a CSV file.
    pub idx: bool,
    /// The classes kept (labels become their positions here); empty keeps all.
    pub classes: Vec<i64>,
}

impl TaskSource {
    /// Parses `PATH` or `PATH:C1,C2,…` (a class subset).
    pub fn parse(spec: &str, idx: bool) -> Result<Self> {
        let (path, classes) = match spec.rsplit_once(':') {
            Some((path, list)) => {
                let classes: Option<Vec<i64>> =
                    list.split(',').map(|c| c.trim().parse().ok()).collect();
                match classes {
                    Some(c) => (path, c),
                    None => (spec, Vec::new()),
                }
            }
            None => (spec, Vec::new()),
        };
        if path.is_empty() {
            bail!("task '{spec}' names no file");
        }
        Ok(TaskSource {
            path: path.into(),
            idx,
            classes,
        })
    }

    /// A short name: the file or directory name, and the classes kept.
    pub fn name(&self) -> String {
        let file = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |f| {
                f.to_string_lossy()
                    .trim_end_matches(".gz")
                    .trim_end_matches(".csv")
                    .to_string()
            },
        );
        if self.classes.is_empty() {
            file
        } else {
            let list: Vec<String> = self.classes.iter().map(i64::to_string).collect();
            format!("{file}:{}", list.join(","))
        }
    }
}

/// A task's data, ready for the model.
#[derive(Clone, Debug)]
pub struct Task {
    pub name: String,
    pub data: Dataset,
}

/// Loads a task and fits its images to `input` (the model's input shape, batch first):
/// samples of the input's size are taken as they are; square one-channel images of
/// another size are resized bilinearly (half-pixel centers).
pub fn load_task(source: &TaskSource, input: &[usize]) -> Result<Task> {
    let at = |e: Error| e.in_file(&source.path);
    let data = if source.idx {
        load_idx_dir(&source.path)?
    } else {
        load_csv(&source.path)?
    };
    let data = if source.classes.is_empty() {
        data
    } else {
        subset(data, &source.classes).map_err(at)?
    };
    let data = fit(data, input).map_err(at)?;
    if data.classes < 2 || data.train_rows.is_empty() || data.test_rows.is_empty() {
        return Err(at(Error::new(
            "a task needs two classes and rows to train and test on",
        )));
    }
    Ok(Task {
        name: source.name(),
        data,
    })
}

/// The rows of `classes`, relabelled 0, 1, … in that order.
fn subset(data: Dataset, classes: &[i64]) -> Result<Dataset> {
    let position = |label: i64| classes.iter().position(|&c| c == label);
    for (i, c) in classes.iter().enumerate() {
        if classes[..i].contains(c) {
            bail!("class {c} is listed twice");
        }
        if !data.samples.labels.contains(c) {
            bail!("no sample has class {c}");
        }
    }
    let keep = |rows: &[usize]| -> Vec<usize> {
        rows.iter()
            .copied()
            .filter(|&r| position(data.samples.labels[r]).is_some())
            .collect()
    };
    let (train, test) = (keep(&data.train_rows), keep(&data.test_rows));
    let old = &data.samples;
    let mut values = Vec::new();
    let mut labels = Vec::new();
    let mut take = |rows: &[usize]| -> Vec<usize> {
        rows.iter()
            .map(|&r| {
                values.extend_from_slice(&old.values[r * old.row_len..(r + 1) * old.row_len]);
                labels.push(position(old.labels[r]).expect("kept") as i64);
                labels.len() - 1
            })
            .collect()
    };
    let train_rows = take(&train);
    let test_rows = take(&test);
    Ok(Dataset {
        samples: Samples {
            values,
            labels,
            row_len: old.row_len,
        },
        feature_scale: data.feature_scale,
        test_rows,
        train_rows,
        classes: classes.len(),
    })
}

/// Resizes every sample to the model input when it is a square one-channel image of
/// another size.
fn fit(mut data: Dataset, input: &[usize]) -> Result<Dataset> {
    let per: usize = input.iter().skip(1).product();
    let row_len = data.samples.row_len;
    if row_len == per {
        return Ok(data);
    }
    let spatial: Vec<usize> = input.iter().skip(1).copied().filter(|&d| d != 1).collect();
    let side = (row_len as f64).sqrt().round() as usize;
    let [oh, ow] = spatial[..] else {
        bail!("samples have {row_len} values, the model input {input:?} takes {per}");
    };
    if side * side != row_len || per != oh * ow {
        bail!(
            "samples have {row_len} values, the model input {input:?} takes {per}; only square \
             one-channel images are resized"
        );
    }
    let n = data.samples.len();
    let mut values = Vec::with_capacity(n * per);
    for r in 0..n {
        let img = &data.samples.values[r * row_len..(r + 1) * row_len];
        resize_bilinear(img, side, side, oh, ow, &mut values);
    }
    data.samples.values = values;
    data.samples.row_len = per;
    Ok(data)
}

/// Bilinear resize with half-pixel centers, edges clamped.
fn resize_bilinear(img: &[f32], h: usize, w: usize, oh: usize, ow: usize, out: &mut Vec<f32>) {
    let coord = |o: usize, n: usize, on: usize| -> (usize, usize, f32) {
        let x = ((o as f32 + 0.5) * n as f32 / on as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let x0 = x.floor() as usize;
        (x0, (x0 + 1).min(n - 1), x - x0 as f32)
    };
    for oy in 0..oh {
        let (y0, y1, fy) = coord(oy, h, oh);
        for ox in 0..ow {
            let (x0, x1, fx) = coord(ox, w, ow);
            let top = img[y0 * w + x0] * (1.0 - fx) + img[y0 * w + x1] * fx;
            let bottom = img[y1 * w + x0] * (1.0 - fx) + img[y1 * w + x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_path_and_maybe_classes() {
        let t = TaskSource::parse("data/a.csv.gz:3,1", false).unwrap();
        assert_eq!(
            (t.path, t.classes),
            (PathBuf::from("data/a.csv.gz"), vec![3, 1])
        );
        assert_eq!(
            TaskSource::parse("c:/x.csv", false).unwrap().path,
            PathBuf::from("c:/x.csv")
        );
        assert_eq!(TaskSource::parse("dir", true).unwrap().name(), "dir");
        assert_eq!(
            TaskSource::parse("d/a.csv.gz:0,2", false).unwrap().name(),
            "a:0,2"
        );
        assert!(TaskSource::parse(":1,2", false).is_err());
    }

    fn dataset(labels: Vec<i64>, row_len: usize) -> Dataset {
        let n = labels.len();
        Dataset {
            samples: Samples {
                values: (0..n * row_len).map(|i| (i / row_len) as f32).collect(),
                labels,
                row_len,
            },
            feature_scale: 1.0,
            test_rows: (0..n).filter(|i| i % 5 == 0).collect(),
            train_rows: (0..n).filter(|i| i % 5 != 0).collect(),
            classes: 4,
        }
    }

    #[test]
    fn subsets_relabel_in_the_order_given() {
        let d = subset(dataset(vec![0, 1, 2, 3, 2, 1, 0, 3, 2, 2], 2), &[2, 0]).unwrap();
        assert_eq!(d.classes, 2);
        // Rows 0 (label 0, test) and 5 (label 1) ...: kept rows are 0, 2, 4, 6, 8, 9.
        assert_eq!(d.samples.len(), 6);
        assert_eq!(d.test_rows.len(), 1, "row 0 was a test row");
        let row = |r: usize| d.samples.values[r * 2];
        for r in 0..d.samples.len() {
            let original = row(r) as usize;
            let label = [0, 1, 2, 3, 2, 1, 0, 3, 2, 2][original];
            assert_eq!(d.samples.labels[r], if label == 2 { 0 } else { 1 });
        }
        assert!(subset(dataset(vec![0, 1, 0, 1, 0], 1), &[0, 5]).is_err());
        assert!(subset(dataset(vec![0, 1, 0, 1, 0], 1), &[1, 1]).is_err());
    }

    #[test]
    fn square_images_are_resized_to_the_input() {
        let d = fit(dataset(vec![0, 1, 0, 1, 0], 4), &[1, 1, 3, 3]).unwrap();
        assert_eq!(d.samples.row_len, 9);
        // A constant 2x2 image stays constant.
        assert!(d.samples.values[9..18]
            .iter()
            .all(|&v| (v - 1.0).abs() < 1e-6));
        assert!(fit(dataset(vec![0, 1, 0, 1, 0], 5), &[1, 1, 3, 3]).is_err());
        assert!(fit(dataset(vec![0, 1, 0, 1, 0], 4), &[1, 3, 3, 3]).is_err());
    }
}
