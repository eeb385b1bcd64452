//! The local store: objects are files under a root folder. A writer fills a hidden temp file
//! beside the target, which is synced and renamed into place on finish — a reader never sees
//! half a file — and removed on abort or drop; a crash leaves only temp files, swept at start.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use spillway_formats::prefix::NameRule;

use super::{already_exists, from_io, ObjectStore, ObjectWriter, PutOptions, WriteGuard};
use crate::fs::{
    publish, publish_new, staged_path, sweep_stale_temp_files, write_atomically, TEMP_MARKER,
};
use crate::sink::SinkError;

pub struct LocalStore {
    root: PathBuf,
    name: &'static str,
}

impl LocalStore {
    /// A store under `root`, reported as destination `name` (e.g. `LocalLake`).
    pub fn new(root: PathBuf, name: &'static str) -> Self {
        LocalStore { root, name }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// The path of `key`, which must stay under the root: a key with a `.`/`..` folder or a
    /// leading `/` is refused (prefixes are checked long before; this is the last guard).
    fn checked_path(&self, key: &str) -> Result<PathBuf, SinkError> {
        NameRule::ObjectKey
            .check(key)
            .map_err(|e| SinkError::permanent("LocalStore.UnsafeKey", e.to_string()))?;
        Ok(self.path(key))
    }
}

#[async_trait]
impl ObjectStore for LocalStore {
    fn destination_name(&self) -> &'static str {
        self.name
    }

    fn url(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn writer(&self, key: &str, options: &PutOptions) -> Result<Box<dyn ObjectWriter>, SinkError> {
        let target = self.checked_path(key)?;
        let context = format!("writing {}", target.display());
        let open = || -> io::Result<LocalWriter> {
            let (_, temp) = staged_path(&target)?;
            let file = BufWriter::with_capacity(1 << 20, File::create(&temp)?);
            Ok(LocalWriter {
                temp,
                target: target.clone(),
                file: Some(file),
                written: 0,
                if_absent: options.if_absent,
                guard: options.guard.clone(),
            })
        };
        open()
            .map(|w| Box::new(w) as Box<dyn ObjectWriter>)
            .map_err(|e| from_io(e, &context))
    }

    async fn put(&self, key: &str, body: Vec<u8>, _options: &PutOptions) -> Result<(), SinkError> {
        let path = self.checked_path(key)?;
        tokio::task::spawn_blocking(move || {
            write_atomically(&path, |w| w.write_all(&body).map(|_| true))
                .map(|_| ())
                .map_err(|e| from_io(e, &format!("writing {}", path.display())))
        })
        .await
        .map_err(|e| SinkError::retryable("LocalStore.Task", e.to_string()))?
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, SinkError> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(from_io(e, &format!("listing {}", dir.display()))),
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(&root) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(&prefix) && !key.contains(TEMP_MARKER) {
                            keys.push(key);
                        }
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
        .map_err(|e| SinkError::retryable("LocalStore.Task", e.to_string()))?
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, SinkError> {
        let path = self.checked_path(key)?;
        tokio::fs::read(&path)
            .await
            .map_err(|e| from_io(e, &format!("reading {}", path.display())))
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        let path = self.checked_path(key)?;
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(from_io(e, &format!("removing {}", path.display())))
            }
            _ => Ok(()),
        }
    }

    async fn clean_up_after_crash(
        &self,
        _prefix: &str,
        _name_start: &str,
    ) -> Result<usize, SinkError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            sweep_stale_temp_files(&root)
                .map_err(|e| from_io(e, &format!("sweeping {}", root.display())))
        })
        .await
        .map_err(|e| SinkError::retryable("LocalStore.Task", e.to_string()))?
    }
}

struct LocalWriter {
    temp: PathBuf,
    target: PathBuf,
    file: Option<BufWriter<File>>,
    written: u64,
    if_absent: bool,
    guard: Option<WriteGuard>,
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("object already finished"))?;
        let n = file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl ObjectWriter for LocalWriter {
    fn finish(mut self: Box<Self>) -> Result<u64, SinkError> {
        WriteGuard::check(&self.guard)?;
        let context = format!("writing {}", self.target.display());
        let file = self
            .file
            .take()
            .ok_or_else(|| SinkError::permanent("LocalStore.State", "object already finished"))?;
        if !self.if_absent {
            publish(file, &self.temp, &self.target).map_err(|e| from_io(e, &context))?;
            return Ok(self.written);
        }
        match publish_new(file, &self.temp, &self.target) {
            Ok(()) => Ok(self.written),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(already_exists(format!(
                "{} already exists",
                self.target.display()
            ))),
            Err(e) => Err(from_io(e, &context)),
        }
    }

    fn abort(self: Box<Self>) {
        // Drop removes the temp file.
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_appear_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_path_buf(), "LocalLake");
        let mut w = store
            .writer("a/b/one.json", &PutOptions::default())
            .unwrap();
        w.write_all(b"hello").unwrap();
        assert!(
            store.list("a/").await.unwrap().is_empty(),
            "not visible before finish"
        );
        assert_eq!(w.finish().unwrap(), 5);
        let mut dropped = store
            .writer("a/b/two.json", &PutOptions::default())
            .unwrap();
        dropped.write_all(b"half").unwrap();
        drop(dropped);
        store
            .put("a/c.json", b"x".to_vec(), &PutOptions::default())
            .await
            .unwrap();
        assert_eq!(
            store.list("a/").await.unwrap(),
            vec!["a/b/one.json", "a/c.json"]
        );
        assert_eq!(store.get("a/b/one.json").await.unwrap(), b"hello");
        assert_eq!(
            std::fs::read_dir(dir.path().join("a/b")).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[tokio::test]
    async fn if_absent_leaves_an_existing_object_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_path_buf(), "LocalLake");
        let options = PutOptions {
            if_absent: true,
            ..PutOptions::default()
        };
        let mut first = store.writer("k/one", &options).unwrap();
        first.write_all(b"first").unwrap();
        assert_eq!(first.finish().unwrap(), 5);
        let mut second = store.writer("k/one", &options).unwrap();
        second.write_all(b"second").unwrap();
        let err = second.finish().unwrap_err();
        assert_eq!(err.kind, crate::sink::ErrorKind::AlreadyExists, "{err}");
        assert_eq!(store.get("k/one").await.unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path().join("k")).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn keys_that_would_leave_the_root_are_refused() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("lake");
        let store = LocalStore::new(root.clone(), "LocalLake");
        for key in [
            "../escape.json",
            "a/../../escape.json",
            "/tmp/escape.json",
            "./x",
        ] {
            let err = store.writer(key, &PutOptions::default()).err().unwrap();
            assert_eq!(err.code, "LocalStore.UnsafeKey", "{key}");
            let err = store.put(key, b"x".to_vec(), &PutOptions::default()).await;
            assert_eq!(err.unwrap_err().code, "LocalStore.UnsafeKey", "{key}");
        }
        assert!(!parent.path().join("escape.json").exists());
        assert!(!root.exists(), "nothing was created");
    }
}
