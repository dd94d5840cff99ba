//! Reading pass options from YAML.

use nnopt_compiler::{Error, Result};

/// Accepts only "no options".
pub fn none(options: &serde_yaml_ng::Value) -> Result<()> {
    match options {
        serde_yaml_ng::Value::Null => Ok(()),
        serde_yaml_ng::Value::Mapping(m) if m.is_empty() => Ok(()),
        other => Err(Error::new(format!("takes no options, got {other:?}"))),
    }
}

/// Deserializes typed options, with defaults for a missing block.
pub fn parse<T: serde::de::DeserializeOwned + Default>(
    options: &serde_yaml_ng::Value,
) -> Result<T> {
    if options.is_null() {
        return Ok(T::default());
    }
    serde_yaml_ng::from_value(options.clone())
        .map_err(|e| Error::new(format!("invalid options: {e}")))
}

/// The most synthetic calibration samples a quantization pass takes.
pub const MAX_SAMPLES: usize = 4096;
/// The most epochs a training pass takes.
pub const MAX_EPOCHS: usize = 10_000;
/// The largest training batch.
pub const MAX_BATCH: usize = 1 << 16;

/// Checks that each `(name, value, max)` has `value <= max`: option values beyond their
/// limits would only exhaust memory or time.
pub fn at_most(pass: &str, limits: &[(&str, usize, usize)]) -> Result<()> {
    match limits.iter().find(|(_, value, max)| value > max) {
        Some((name, value, max)) => Err(Error::new(format!(
            "{pass}: option {name} = {value} is more than its limit {max}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_option() {
        assert!(at_most("p", &[("a", 3, 3), ("b", 0, 1)]).is_ok());
        let e = at_most("p", &[("a", 3, 3), ("samples", 1_000_000_000, 4096)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p: option samples = 1000000000 is more than its limit 4096"
        );
    }
}
