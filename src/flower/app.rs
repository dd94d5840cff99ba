//! nnopt's Flower app (`examples/flower/`), compiled into the binary so that `nnopt fl
//! flower` runs it from anywhere: written into a scratch directory for `flwr run`.

use crate::{Error, Result};
use std::path::Path;

/// Each file of the app: its path in the app directory and its text.
const FILES: [(&str, &str); 6] = [
    (
        "pyproject.toml",
        include_str!("../../examples/flower/pyproject.toml"),
    ),
    (
        "nnopt_flower/__init__.py",
        include_str!("../../examples/flower/nnopt_flower/__init__.py"),
    ),
    (
        "nnopt_flower/config.py",
        include_str!("../../examples/flower/nnopt_flower/config.py"),
    ),
    (
        "nnopt_flower/client_app.py",
        include_str!("../../examples/flower/nnopt_flower/client_app.py"),
    ),
    (
        "nnopt_flower/strategy.py",
        include_str!("../../examples/flower/nnopt_flower/strategy.py"),
    ),
    (
        "nnopt_flower/server_app.py",
        include_str!("../../examples/flower/nnopt_flower/server_app.py"),
    ),
];

/// Writes the app into `dir`.
pub fn write_app(dir: &Path) -> Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::new(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

/// A TOML basic string of `s`.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(toml_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(toml_string("x\ny"), "\"x\\u000Ay\"");
    }

    /// Every file the app directory holds is embedded.
    #[test]
    fn the_whole_app_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/flower");
        let mut on_disk = Vec::new();
        for dir in [root.clone(), root.join("nnopt_flower")] {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                let keep = p.extension().is_some_and(|x| x == "py" || x == "toml");
                if p.is_file() && keep {
                    on_disk.push(
                        p.strip_prefix(&root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
