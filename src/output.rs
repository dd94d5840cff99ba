//! Output files are written to a temporary file beside the target, then renamed, so that
//! a failure never leaves a half-written output. The files of one command are written
//! together: every temporary file first, then the renames, so when any write fails none
//! of the outputs changes. Targets that exist and are not regular files (`/dev/null`,
//! pipes, terminals) are written directly: renaming over them would replace the device.
//! Temporary files are named `.NAME.tmp-PID`; one left by a killed process (whose PID no
//! longer runs) is removed the next time NAME is written.

use nnopt_compiler::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file and a rename (directly when `path`
/// is an existing non-regular file such as `/dev/null`).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_all_atomically(&[(path, bytes)])
}

/// Writes every `(path, bytes)`, or none of them when any write fails.
pub fn write_all_atomically(files: &[(impl AsRef<Path>, impl AsRef<[u8]>)]) -> Result<()> {
    let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
    let mut direct: Vec<(&Path, &[u8])> = Vec::new();
    let result = (|| {
        for (path, bytes) in files {
            let (path, bytes) = (path.as_ref(), bytes.as_ref());
            if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
                direct.push((path, bytes));
                continue;
            }
            let tmp = temp_path(path)?;
            remove_stale_temps(path);
            staged.push((tmp.clone(), path));
            write_synced(&tmp, bytes).map_err(|e| cannot_write(path, e))?;
        }
        for (path, bytes) in &direct {
            std::fs::write(path, bytes).map_err(|e| cannot_write(path, e))?;
        }
        for (tmp, path) in &staged {
            std::fs::rename(tmp, path).map_err(|e| cannot_write(path, e))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
    }
    result
}

fn cannot_write(path: &Path, e: std::io::Error) -> Error {
    Error::new(format!("cannot write: {e}")).in_file(path)
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The directory and file name of `path`.
fn split(path: &Path) -> Result<(&Path, String)> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::new("not a file path").in_file(path))?;
    Ok((dir, name.to_string_lossy().into_owned()))
}

/// This process's temporary file for `path`.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let (dir, name) = split(path)?;
    Ok(dir.join(format!(".{name}.tmp-{}", std::process::id())))
}

/// Removes temporary files of `path` left by processes that no longer run (a killed
/// compile). Best effort: without `/proc`, nothing is removed.
fn remove_stale_temps(path: &Path) {
    let Ok((dir, name)) = split(path) else { return };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let pid = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
        std::fs::write(&a, b"old").unwrap();
        let missing = dir.path().join("no/such/dir/r.html");
        let files = [(a.clone(), b"new".to_vec()), (missing, b"x".to_vec())];
        assert!(write_all_atomically(&files).is_err());
        assert_eq!(std::fs::read(&a).unwrap(), b"old");
        let files = [(a.clone(), b"new".to_vec()), (b.clone(), b"b".to_vec())];
        write_all_atomically(&files).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "no temporary files remain");
    }

    #[test]
    fn stale_temporary_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.npub");
        // PID 0 never names a process under /proc: a killed writer's leftover.
        let stale = dir.path().join(".m.npub.tmp-0");
        std::fs::write(&stale, b"partial").unwrap();
        write_atomically(&out, b"done").unwrap();
        assert!(!stale.exists());
        assert_eq!(std::fs::read(&out).unwrap(), b"done");
    }
}
