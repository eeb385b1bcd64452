//! One process per checkpoint: a run that resumes from a checkpoint file first takes an
//! exclusive kernel lock (`flock`) on `<checkpoint>.lock` and holds it until it exits. The
//! kernel drops the lock when the process ends, however it ends (SIGKILL included), so a lock
//! is never stale. A second run on the same checkpoint is refused with the holder's pid and
//! host, which the holder writes into the lock file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LockError {
    #[error("checkpoint {checkpoint} is in use by another spillway run ({holder}); two runs on one checkpoint would both deliver everything — stop that run first, or give this one its own source.checkpoint_file")]
    Held { checkpoint: PathBuf, holder: String },
    #[error("cannot lock checkpoint {checkpoint} ({lock_file}): {source}")]
    Io {
        checkpoint: PathBuf,
        lock_file: PathBuf,
        source: io::Error,
    },
}

/// Held for as long as the run uses the checkpoint; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct CheckpointLock {
    _file: File,
    path: PathBuf,
}

impl CheckpointLock {
    /// The lock file that goes with a checkpoint file: `<checkpoint>.lock` beside it.
    pub fn path_for(checkpoint: &Path) -> PathBuf {
        let mut name = checkpoint.as_os_str().to_owned();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock of `checkpoint` or says who holds it. Creates the folder if needed.
    pub fn acquire(checkpoint: &Path) -> Result<CheckpointLock, LockError> {
        let path = Self::path_for(checkpoint);
        let io_error = |source| LockError::Io {
            checkpoint: checkpoint.to_path_buf(),
            lock_file: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_error)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "a process that has not written its name yet".to_string(),
                    text => text.to_string(),
                };
                return Err(LockError::Held {
                    checkpoint: checkpoint.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_error(e)),
        }
        let holder = format!(
            "pid {} on host {}, since {}",
            std::process::id(),
            crate::host::host_name(),
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
        );
        let write = |file: &mut File| -> io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(holder.as_bytes())?;
            file.flush()
        };
        write(&mut file).map_err(io_error)?;
        Ok(CheckpointLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = dir.path().join("cp/stream.json");
        let first = CheckpointLock::acquire(&checkpoint).unwrap();
        assert_eq!(first.path(), dir.path().join("cp/stream.json.lock"));
        let err = CheckpointLock::acquire(&checkpoint).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {} on host ", std::process::id())),
            "{text}"
        );
        assert!(text.contains("cp/stream.json is in use"), "{text}");
        drop(first);
        let again = CheckpointLock::acquire(&checkpoint).expect("free once dropped");
        drop(again);
    }
}
