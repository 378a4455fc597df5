//! A results folder that describes exactly one run, and the atomic writes into it.
//!
//! A default folder gets a name no other run can take (`create_dir` fails for the second of two runs that
//! start in the same second, which then takes the next suffix). A folder is locked while a run writes into
//! it, so a second run refuses it before sending anything; an earlier run's files are removed first, so that
//! nothing of it can be read as part of this one. Every file goes through a temporary name unique to this
//! process and a rename, and no temporary file survives an error. A leaf: it imports nothing of slacheck.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What slacheck writes into a results folder. An earlier run's are removed before a new run writes.
const OWN_FILES: &[&str] = &[
    "summary.json",
    "measurements.json",
    "latency.hlog",
    "requests.parquet",
    "junit.xml",
    "summary.md",
    "report.html",
    "spectrum.svg",
    "spectrum.png",
    "timeline.svg",
    "timeline.png",
    "tiers.svg",
    "tiers.png",
];

/// Folders slacheck writes inside a results folder (`--baseline` writes its comparison into `compare/`).
const OWN_FOLDERS: &[&str] = &["compare"];

#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    #[error("cannot create the results folder {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("the results folder {0} is in use by another slacheck run; give each run its own --out")]
    InUse(PathBuf),
    #[error("cannot clear the earlier run's {path}: {source}")]
    Clear { path: PathBuf, source: std::io::Error },
}

/// A locked results folder; the lock is released when this is dropped.
#[derive(Debug)]
pub struct ResultsDir {
    pub path: PathBuf,
    /// The folder itself, held open with an advisory lock (flock on the folder: no lock file to leave behind).
    _lock: File,
    /// Names of an earlier run's files that were removed, to tell the user.
    pub replaced: Vec<String>,
}

impl ResultsDir {
    /// A new folder `<root>/<name>-<stamp>`, or `…-1`, `…-2` when that is taken (also by a run that started at
    /// the same moment: creating the folder is what claims the name).
    pub fn create_unique(root: &Path, name: &str, stamp: &str) -> Result<Self, OutDirError> {
        std::fs::create_dir_all(root).map_err(|source| OutDirError::Create { path: root.to_path_buf(), source })?;
        let base = root.join(format!("{name}-{stamp}"));
        for i in 0u32.. {
            let path = if i == 0 { base.clone() } else { PathBuf::from(format!("{}-{i}", base.display())) };
            match std::fs::create_dir(&path) {
                Ok(()) => return Self::take(&path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(OutDirError::Create { path, source }),
            }
        }
        unreachable!("some suffix is free")
    }

    /// Takes `path` (created if missing) for this run: locks it, then removes an earlier run's files.
    pub fn take(path: &Path) -> Result<Self, OutDirError> {
        std::fs::create_dir_all(path).map_err(|source| OutDirError::Create { path: path.to_path_buf(), source })?;
        let lock = File::open(path).map_err(|source| OutDirError::Create { path: path.to_path_buf(), source })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(OutDirError::InUse(path.to_path_buf())),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(OutDirError::Create { path: path.to_path_buf(), source })
            }
        }
        let replaced = clear_own_files(path)?;
        Ok(ResultsDir { path: path.to_path_buf(), _lock: lock, replaced })
    }
}

/// Removes slacheck's own files and folders from `dir`, including temporary files a killed run left; returns
/// the names removed. Other files are left alone.
fn clear_own_files(dir: &Path) -> Result<Vec<String>, OutDirError> {
    let mut removed = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|source| OutDirError::Clear { path: dir.to_path_buf(), source })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_folder = entry.file_type().is_ok_and(|t| t.is_dir());
        let result = if is_folder && OWN_FOLDERS.contains(&name.as_str()) {
            std::fs::remove_dir_all(&path)
        } else if !is_folder && (OWN_FILES.contains(&name.as_str()) || is_temporary(&name)) {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        result.map_err(|source| OutDirError::Clear { path: path.clone(), source })?;
        removed.push(name);
    }
    removed.sort();
    Ok(removed)
}

/// The temporary name of `path` for this process: hidden, and unique to the process.
pub fn temporary_name(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp")
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so readers never see
/// half a file; the temporary file is removed on every error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary_name(path);
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_folder_is_refused_until_its_run_ends() {
        let root = tempfile::tempdir().unwrap();
        let first = ResultsDir::take(root.path()).unwrap();
        assert!(matches!(ResultsDir::take(root.path()), Err(OutDirError::InUse(_))));
        drop(first);
        assert!(ResultsDir::take(root.path()).is_ok());
    }

    #[test]
    fn an_earlier_runs_files_are_removed_and_others_kept() {
        let root = tempfile::tempdir().unwrap();
        for name in ["summary.json", "junit.xml", ".latency.hlog.tmp-77", "notes.txt"] {
            std::fs::write(root.path().join(name), "x").unwrap();
        }
        std::fs::create_dir(root.path().join("compare")).unwrap();
        let dir = ResultsDir::take(root.path()).unwrap();
        assert_eq!(dir.replaced, [".latency.hlog.tmp-77", "compare", "junit.xml", "summary.json"]);
        let mut left: Vec<String> =
            std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["notes.txt"]);
    }

    #[test]
    fn two_runs_in_the_same_second_get_two_folders() {
        let root = tempfile::tempdir().unwrap();
        let a = ResultsDir::create_unique(root.path(), "burst", "20261126T120000Z").unwrap();
        let b = ResultsDir::create_unique(root.path(), "burst", "20261126T120000Z").unwrap();
        assert_eq!(a.path, root.path().join("burst-20261126T120000Z"));
        assert_eq!(b.path, root.path().join("burst-20261126T120000Z-1"));
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let root = tempfile::tempdir().unwrap();
        // The target is a folder: the rename fails after the temporary file was written.
        let target = root.path().join("summary.json");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), "x").unwrap();
        assert!(write_atomic(&target, b"{}").is_err());
        let names: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["summary.json"]);
    }
}
