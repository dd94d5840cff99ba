//! IDX files (the MNIST format): a big-endian header (two zero bytes, a type byte, the
//! number of dimensions, then each dimension as a u32) and the values. A directory holds
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
//! `t10k-labels-idx1-ubyte`, each plain or gzip-compressed (`.gz`).

use super::Dataset;
use crate::runtime::Samples;
use nnopt_compiler::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The IDX type byte of unsigned bytes, the only type these files use.
const UBYTE: u8 = 0x08;
/// Most values a file may declare (2^31: 30 times Fashion-MNIST's training images).
const MAX_VALUES: u64 = 1 << 31;

/// An IDX file's dimensions and values.
struct Idx {
    dims: Vec<usize>,
    values: Vec<u8>,
}

/// Reads the training and test files of an IDX directory: images become rows of
/// features divided by 255, the test files the held-out rows.
pub fn load_idx_dir(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        return Err(Error::new("is not a directory of IDX files").in_file(dir));
    }
    let (train_x, train_y) = split(dir, "train")?;
    let (test_x, test_y) = split(dir, "t10k")?;
    if train_x.dims[1..] != test_x.dims[1..] {
        return Err(Error::new(format!(
            "test images are {:?}, training images {:?}",
            &test_x.dims[1..],
            &train_x.dims[1..]
        ))
        .in_file(dir));
    }
    let row_len: usize = train_x.dims[1..].iter().product();
    let n_train = train_y.len();
    let labels: Vec<i64> = train_y.into_iter().chain(test_y).collect();
    let values: Vec<f32> = train_x
        .values
        .iter()
        .chain(&test_x.values)
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    let classes = labels.iter().max().map_or(0, |&l| l as usize + 1);
    Ok(Dataset {
        train_rows: (0..n_train).collect(),
        test_rows: (n_train..labels.len()).collect(),
        samples: Samples {
            values,
            labels,
            row_len,
        },
        feature_scale: 255.0,
        classes,
    })
}

/// The images and labels of one split (`train` or `t10k`).
fn split(dir: &Path, prefix: &str) -> Result<(Idx, Vec<i64>)> {
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_idx(&images_path)?;
    let labels = read_idx(&labels_path)?;
    if images.dims.len() < 2 || labels.dims.len() != 1 {
        return Err(Error::new(format!(
            "expected images of 2 or more dimensions and 1-dimensional labels, got {:?} and {:?}",
            images.dims, labels.dims
        ))
        .in_file(&images_path));
    }
    if images.dims[0] != labels.dims[0] || images.dims[0] == 0 {
        return Err(Error::new(format!(
            "{} images but {} labels",
            images.dims[0], labels.dims[0]
        ))
        .in_file(&labels_path));
    }
    let labels = labels.values.into_iter().map(i64::from).collect();
    Ok((images, labels))
}

/// `dir/name`, or `dir/name.gz`.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    [plain, gz]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| Error::new(format!("has no {name} or {name}.gz")).in_file(dir))
}

/// Reads an IDX file of unsigned bytes (gzip-compressed when its name ends in `.gz`).
fn read_idx(path: &Path) -> Result<Idx> {
    let err = |m: String| Error::new(m).in_file(path);
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let io = |e: std::io::Error| err(format!("cannot read: {e}"));
    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic).map_err(io)?;
    if magic[..2] != [0, 0] || magic[2] != UBYTE || magic[3] == 0 {
        return Err(err(format!(
            "not an IDX file of unsigned bytes (header {magic:02x?})"
        )));
    }
    let mut dims = Vec::with_capacity(usize::from(magic[3]));
    for _ in 0..magic[3] {
        let mut d = [0u8; 4];
        reader.read_exact(&mut d).map_err(io)?;
        dims.push(u32::from_be_bytes(d) as usize);
    }
    let count = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .filter(|&n| n <= MAX_VALUES)
        .ok_or_else(|| err(format!("dimensions {dims:?} declare more than 2^31 values")))?;
    // Read what the file holds, one past the count: the buffer grows with the data, not
    // with what the header claims.
    let mut values = Vec::new();
    reader
        .take(count + 1)
        .read_to_end(&mut values)
        .map_err(io)?;
    if values.len() as u64 != count {
        return Err(err(format!(
            "dimensions {dims:?} declare {count} values, the file holds {}{}",
            values.len().min(count as usize),
            if values.len() as u64 > count {
                " and more"
            } else {
                ""
            }
        )));
    }
    Ok(Idx { dims, values })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx(dims: &[u32], values: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, UBYTE, dims.len() as u8];
        dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
        out.extend_from_slice(values);
        out
    }

    fn write(dir: &Path, name: &str, bytes: &[u8], gz: bool) {
        if gz {
            let f = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
            let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            e.write_all(bytes).unwrap();
            e.finish().unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn reads_plain_and_gzip_splits() {
        let dir = tempfile::tempdir().unwrap();
        let images: Vec<u8> = (0..3 * 4).map(|i| i as u8 * 20).collect();
        write(
            dir.path(),
            "train-images-idx3-ubyte",
            &idx(&[3, 2, 2], &images),
            true,
        );
        write(
            dir.path(),
            "train-labels-idx1-ubyte",
            &idx(&[3], &[0, 2, 1]),
            false,
        );
        write(
            dir.path(),
            "t10k-images-idx3-ubyte",
            &idx(&[1, 2, 2], &[255; 4]),
            false,
        );
        write(dir.path(), "t10k-labels-idx1-ubyte", &idx(&[1], &[4]), true);
        let d = load_idx_dir(dir.path()).unwrap();
        assert_eq!(d.samples.row_len, 4);
        assert_eq!(d.samples.labels, vec![0, 2, 1, 4]);
        assert_eq!(
            (d.train_rows.clone(), d.test_rows.clone()),
            (vec![0, 1, 2], vec![3])
        );
        assert_eq!(d.classes, 5);
        assert_eq!(d.samples.values[1], 20.0 / 255.0);
        assert_eq!(d.samples.values[12..], [1.0; 4]);
    }

    #[test]
    fn bad_files_give_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let msg = |p: &Path| load_idx_dir(p).unwrap_err().to_string();
        assert!(msg(p).contains("has no train-images-idx3-ubyte"));
        write(
            p,
            "train-images-idx3-ubyte",
            &idx(&[2, 2, 2], &[0; 7]),
            false,
        );
        write(p, "train-labels-idx1-ubyte", &idx(&[2], &[0, 1]), false);
        write(
            p,
            "t10k-images-idx3-ubyte",
            &idx(&[1, 2, 2], &[0; 4]),
            false,
        );
        write(p, "t10k-labels-idx1-ubyte", &idx(&[1], &[0]), false);
        assert!(
            msg(p).contains("declare 8 values, the file holds 7"),
            "{}",
            msg(p)
        );
        // A header claiming 2^48 values is refused before any allocation.
        write(
            p,
            "train-images-idx3-ubyte",
            &idx(&[65536, 65536, 65536], &[0; 8]),
            false,
        );
        assert!(msg(p).contains("more than 2^31"));
        write(p, "train-images-idx3-ubyte", &[0, 0, 0x0d, 3, 0], false);
        assert!(msg(p).contains("not an IDX file"));
        write(
            p,
            "train-images-idx3-ubyte",
            &idx(&[3, 2, 2], &[0; 12]),
            false,
        );
        assert!(msg(p).contains("3 images but 2 labels"));
        write(
            p,
            "train-images-idx3-ubyte",
            &idx(&[2, 2, 2], &[0; 9]),
            false,
        );
        assert!(msg(p).contains("and more"));
        write(p, "train-images-idx3-ubyte", &idx(&[2, 4], &[0; 8]), false);
        assert!(msg(p).contains("test images are"));
        assert!(msg(&p.join("train-labels-idx1-ubyte")).contains("not a directory"));
    }
}
