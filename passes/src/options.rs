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
