//! Labelled datasets: CSV files of feature rows and labels, and IDX files (MNIST's
//! format, as Fashion-MNIST ships) read straight from their gzip files.

mod csv;
mod idx;

pub use csv::load_csv;
pub use idx::load_idx_dir;

/// A CSV file (`.csv`, `.csv.gz`), or a directory of IDX files.
pub fn load_dataset(path: &std::path::Path) -> nnopt_compiler::Result<Dataset> {
    if path.is_dir() {
        load_idx_dir(path)
    } else {
        load_csv(path)
    }
}

use crate::runtime::Samples;

/// A dataset and its fixed train/test split.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Features divided by the largest absolute feature value in the file.
    pub samples: Samples,
    /// What the features were divided by.
    pub feature_scale: f32,
    /// Rows held out for testing: a CSV file's every fifth row (index % 5 == 0), the same
    /// for every seed; an IDX directory's test files.
    pub test_rows: Vec<usize>,
    /// The other rows.
    pub train_rows: Vec<usize>,
    /// Number of classes (largest label + 1).
    pub classes: usize,
}
