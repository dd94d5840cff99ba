//! Multi-fidelity streams as CSV: a header naming the fidelities (cheapest first), then
//! one row per step with the value each fidelity would measure at that step.

use nnopt_compiler::limits::MAX_BUFFER_BYTES;
use nnopt_compiler::{Error, Result};
use std::path::Path;

/// A stream: fidelity names and one value per fidelity per step.
#[derive(Clone, Debug)]
pub struct Stream {
    pub names: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Stream {
    /// Reads `path` (at most [`MAX_BUFFER_BYTES`]); every error names the file and the
    /// line.
    pub fn read(path: &Path) -> Result<Stream> {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::new(format!("cannot read the stream: {e}")).in_file(path))?
            .len();
        if size > MAX_BUFFER_BYTES as u64 {
            return Err(Error::new(format!(
                "the stream is {size} bytes, over the {} GiB limit of one buffer",
                MAX_BUFFER_BYTES >> 30
            ))
            .in_file(path));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::new(format!("cannot read the stream: {e}")).in_file(path))?;
        Stream::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parses CSV text (see the module documentation).
    pub fn parse(text: &str) -> Result<Stream> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return Err(Error::new("the stream is empty: expected a header line"));
        };
        let names: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
        let mut rows = Vec::new();
        for (i, line) in lines {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() != names.len() {
                return Err(Error::new(format!(
                    "line {}: {} values, but the header names {} fidelities",
                    i + 1,
                    fields.len(),
                    names.len()
                )));
            }
            let row = fields
                .iter()
                .zip(&names)
                .map(|(f, name)| match f.parse::<f64>() {
                    Ok(v) if v.is_finite() => Ok(v),
                    _ => Err(Error::new(format!(
                        "line {}, column '{name}': '{f}' is not a finite number",
                        i + 1
                    ))),
                })
                .collect::<Result<Vec<f64>>>()?;
            rows.push(row);
        }
        if rows.is_empty() {
            return Err(Error::new("the stream has a header but no steps"));
        }
        Ok(Stream { names, rows })
    }

    /// The values of fidelity `j`, step by step.
    pub fn column(&self, j: usize) -> Vec<f64> {
        self.rows.iter().map(|r| r[j]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_lines() {
        let s = Stream::parse("low,high\n1,2\n\n3.5,-4\n").unwrap();
        assert_eq!(s.rows, vec![vec![1.0, 2.0], vec![3.5, -4.0]]);
        let e = Stream::parse("low,high\n1,2\n3\n").unwrap_err().to_string();
        assert!(e.contains("line 3: 1 values"), "{e}");
        let e = Stream::parse("low,high\n1,nan\n").unwrap_err().to_string();
        assert!(e.contains("line 2, column 'high': 'nan'"), "{e}");
        assert!(Stream::parse("low\n").is_err());
    }
}
