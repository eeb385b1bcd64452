//! Staged local writes: data goes to a hidden temp file beside the target, is synced, and
//! appears by rename — a reader never sees half a file, and a crash leaves only a temp file
//! that [`sweep_stale_temp_files`] removes at the next start.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// Marker in the names of staged files.
pub const TEMP_MARKER: &str = ".spillway-tmp-";

/// Writes `path` atomically: `write` fills a buffered temp file, which is synced and renamed.
/// When `write` returns `Ok(false)` nothing is published and the temp file is removed.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<bool>,
) -> io::Result<bool> {
    let (_, temp) = staged_path(path)?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&temp)?);
        if !write(&mut out)? {
            return Ok(false);
        }
        publish(out, &temp, path)?;
        Ok(true)
    })();
    if !matches!(result, Ok(true)) {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// A fresh hidden temp path beside `target` (its folder created): `(folder, temp path)`.
pub fn staged_path(target: &Path) -> io::Result<(&Path, PathBuf)> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    let temp = dir.join(format!(
        ".{name}{TEMP_MARKER}{}",
        uuid::Uuid::new_v4().simple()
    ));
    Ok((dir, temp))
}

/// Publishes a staged file: flushes and syncs it, renames it to `target`, and syncs the
/// folder so the rename is durable (best effort: not every filesystem syncs a folder).
pub fn publish(file: BufWriter<File>, temp: &Path, target: &Path) -> io::Result<()> {
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    fs::rename(temp, target)?;
    if let Some(dir) = target.parent().and_then(|d| File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Publishes a staged file only if `target` does not exist yet (a hard link, which fails on an
/// existing name, then the temp name is removed): `AlreadyExists` leaves `target` as it was.
pub fn publish_new(file: BufWriter<File>, temp: &Path, target: &Path) -> io::Result<()> {
    let file = file.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let linked = fs::hard_link(temp, target);
    let _ = fs::remove_file(temp);
    linked?;
    if let Some(dir) = target.parent().and_then(|d| File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Checks that files can be created in `dir` (created first if missing): writes and removes
/// a small probe file. Run at start, so an unwritable lake is a clear error at once instead of
/// deliveries that fail and a dead letter that cannot be written either.
pub fn check_writable(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let probe = dir.join(format!(
        ".spillway-write-check-{}",
        uuid::Uuid::new_v4().simple()
    ));
    File::create(&probe)?;
    fs::remove_file(&probe)
}

/// Removes temp files left by a crash under `root`; returns how many were removed.
pub fn sweep_stale_temp_files(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().contains(TEMP_MARKER) {
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn publishes_by_rename_and_sweeps_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/object.json");
        assert!(write_atomically(&target, |w| w.write_all(b"hello").map(|_| true)).unwrap());
        assert_eq!(fs::read(&target).unwrap(), b"hello");
        // A writer that declines leaves nothing behind.
        let skipped = dir.path().join("a/b/skipped.json");
        assert!(!write_atomically(&skipped, |_| Ok(false)).unwrap());
        assert!(!skipped.exists());
        // A crash mid-write leaves a temp file; the sweep removes only that.
        fs::write(dir.path().join("a/.x.json.spillway-tmp-123"), b"half").unwrap();
        assert_eq!(sweep_stale_temp_files(dir.path()).unwrap(), 1);
        assert_eq!(fs::read_dir(dir.path().join("a/b")).unwrap().count(), 1);
    }

    #[test]
    fn a_writable_folder_passes_the_check_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("new/lake")).unwrap();
        assert_eq!(
            fs::read_dir(dir.path().join("new/lake")).unwrap().count(),
            0
        );
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(check_writable(&file.join("under-a-file")).is_err());
    }
}
