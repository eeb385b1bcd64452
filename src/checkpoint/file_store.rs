//! Checkpoints in a local JSON file for the file source, replaced atomically: a rerun
//! resumes after the last durable record. Each entry knows *which* file its position is in —
//! the file's inode and a fingerprint of its first bytes, as log shippers keep — so a file
//! replaced or rotated under the same path is read from its start instead of from an offset
//! that belongs to other content. Format (version 2):
//! `{"version":2,"shards":{"<shard>":{"position":N,"identity":{…}}}}`; version 1 files
//! (`"<shard>": N`) are read as positions without an identity.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use spillway_sinks::fs::write_atomically;

use super::lock::CheckpointLock;
use super::read_state_file;

/// Which file a position belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// Kept for people reading the file; not compared (it changes when a volume is mounted
    /// elsewhere, while the file stays the same).
    pub device: u64,
    pub inode: u64,
    /// How many leading bytes the fingerprint covers (fewer than 1 KiB for a small file).
    pub fingerprint_bytes: u64,
    /// MD5 of those bytes, hex.
    pub fingerprint: String,
}

/// A file's checkpoint: the position, and the file it is in (absent in version-1 files).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub position: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<FileIdentity>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StoredEntry {
    /// Version 1: a bare position.
    Position(u64),
    Checkpoint(FileCheckpoint),
}

#[derive(Deserialize)]
struct StoredFile {
    #[allow(dead_code)]
    version: u32,
    shards: BTreeMap<String, StoredEntry>,
}

#[derive(Serialize)]
struct CheckpointFile<'a> {
    version: u32,
    shards: &'a BTreeMap<String, FileCheckpoint>,
}

/// The identities of the files being read, by shard: filled by the file source before it
/// sends a file's first record, read by the store when it saves that shard's position.
pub type FileIdentities = Arc<Mutex<BTreeMap<String, FileIdentity>>>;

pub struct FileCheckpointStore {
    path: PathBuf,
    saved: BTreeMap<String, FileCheckpoint>,
    identities: FileIdentities,
    /// Held for the life of the store: no other process uses this checkpoint meanwhile.
    _lock: CheckpointLock,
}

impl FileCheckpointStore {
    /// Opens the store under `lock`; a missing file means no checkpoints yet.
    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn open(path: &Path, lock: CheckpointLock) -> io::Result<Self> {
        let file: Option<StoredFile> = read_state_file(path, "checkpoint file")?;
        let saved = file
            .map(|f| f.shards)
            .unwrap_or_default()
            .into_iter()
            .map(|(shard, entry)| {
                let checkpoint = match entry {
                    StoredEntry::Position(position) => FileCheckpoint {
                        position,
                        identity: None,
                    },
                    StoredEntry::Checkpoint(checkpoint) => checkpoint,
                };
                (shard, checkpoint)
            })
            .collect();
        Ok(FileCheckpointStore {
            path: path.to_path_buf(),
            saved,
            identities: FileIdentities::default(),
            _lock: lock,
        })
    }

    /// Checkpoints as last saved.
    pub fn checkpoints(&self) -> &BTreeMap<String, FileCheckpoint> {
        &self.saved
    }

    /// Where the file source registers the identity of each file it reads.
    pub fn identities(&self) -> FileIdentities {
        self.identities.clone()
    }

    /// Merges `latest` positions over what is saved (each shard with the identity its file
    /// source registered) and writes the file if anything moved forward.
    pub fn save(&mut self, latest: &BTreeMap<String, u64>) -> io::Result<bool> {
        let identities = self
            .identities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut merged = self.saved.clone();
        for (shard, &position) in latest {
            let identity = identities.get(shard).cloned();
            let entry = merged.entry(shard.clone()).or_insert(FileCheckpoint {
                position,
                identity: identity.clone(),
            });
            entry.position = entry.position.max(position);
            if identity.is_some() {
                entry.identity = identity;
            }
        }
        if merged == self.saved {
            return Ok(false);
        }
        let doc = CheckpointFile {
            version: 2,
            shards: &merged,
        };
        let text = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
        write_atomically(&self.path, |w| w.write_all(&text).map(|_| true))?;
        self.saved = merged;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(inode: u64) -> FileIdentity {
        FileIdentity {
            device: 1,
            inode,
            fingerprint_bytes: 3,
            fingerprint: "abc".into(),
        }
    }

    #[test]
    fn saves_only_forward_moves_with_identities_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp/stream.json");
        let lock = || CheckpointLock::acquire(&dir.path().join("cp/other.json")).unwrap();
        let mut store = FileCheckpointStore::open(&path, lock()).unwrap();
        assert!(store.checkpoints().is_empty());
        store
            .identities()
            .lock()
            .unwrap()
            .insert("f".into(), identity(7));
        assert!(store.save(&BTreeMap::from([("f".into(), 100)])).unwrap());
        assert!(!store.save(&BTreeMap::from([("f".into(), 50)])).unwrap());
        drop(store);
        let reopened = FileCheckpointStore::open(&path, lock()).unwrap();
        let want = FileCheckpoint {
            position: 100,
            identity: Some(identity(7)),
        };
        assert_eq!(
            reopened.checkpoints(),
            &BTreeMap::from([("f".into(), want)])
        );
        drop(reopened);
        std::fs::write(&path, b"garbage").unwrap();
        let err = FileCheckpointStore::open(&path, lock()).err().unwrap();
        assert!(err.to_string().contains("is not valid"));
    }

    #[test]
    fn version_one_files_are_positions_without_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream.json");
        std::fs::write(&path, br#"{"version":1,"shards":{"/data/a.ndjson":42}}"#).unwrap();
        let lock = CheckpointLock::acquire(&path).unwrap();
        let store = FileCheckpointStore::open(&path, lock).unwrap();
        let want = FileCheckpoint {
            position: 42,
            identity: None,
        };
        assert_eq!(store.checkpoints()["/data/a.ndjson"], want);
    }
}
