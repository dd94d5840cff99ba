//! The digits test set (`testdata/digits`, from `shared/data/digits.csv.gz`) and top-1
//! evaluation helpers.

use ndarray::{Axis, IxDyn};
use nnopt::compiler::interp;
use nnopt::compiler::ir::{Graph, Tensor};
use nnopt::npy::read_npy;
use std::path::Path;

/// The 1797 digits in file order.
pub struct Digits {
    /// One `[1, 8, 8, 1]` (NHWC) image per row, pixel / 16.
    pub images: Vec<Tensor>,
    pub labels: Vec<i64>,
    /// LiteRT's top-1 predictions of `digits_cnn_int8.tflite`.
    pub tf_int8_pred: Vec<i64>,
}

/// Loads `testdata/digits`.
pub fn load_digits(dir: &Path) -> Digits {
    let x = read_npy(&dir.join("test_x.npy")).expect("test_x.npy");
    let x = x.as_f32().expect("f32 images").clone();
    let images = x
        .axis_iter(Axis(0))
        .map(|row| {
            let row = row.to_owned().insert_axis(Axis(0));
            Tensor::F32(row.into_dimensionality::<IxDyn>().expect("dynamic"))
        })
        .collect();
    let ints = |name: &str| {
        read_npy(&dir.join(name))
            .expect(name)
            .to_i64_vec()
            .expect("integer labels")
    };
    Digits {
        images,
        labels: ints("test_y.npy"),
        tf_int8_pred: ints("litert_int8_pred.npy"),
    }
}

/// Index of the largest value.
pub fn argmax(t: &Tensor) -> i64 {
    let v = t.to_f64_vec();
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b }) as i64
}

/// Top-1 predictions of `g` on `images`, with the input converted by `layout`.
pub fn predict(g: &Graph, images: &[&Tensor], layout: &dyn Fn(&Tensor) -> Tensor) -> Vec<i64> {
    images
        .iter()
        .map(|x| {
            let out = interp::run(g, &[layout(x)]).expect("model runs");
            argmax(&out[0])
        })
        .collect()
}

/// `hits / n`.
pub fn fraction(hits: usize, n: usize) -> f64 {
    hits as f64 / n as f64
}
