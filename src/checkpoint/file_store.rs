//! Checkpoints in a local JSON file (`{"version":1,"shards":{"<shard>":<position>}}`),
//! replaced atomically, for the file source: a rerun resumes after the last durable record.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spillway_sinks::fs::write_atomically;

use super::read_state_file;

#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    shards: BTreeMap<String, u64>,
}

pub struct FileCheckpointStore {
    path: PathBuf,
    saved: BTreeMap<String, u64>,
}

impl FileCheckpointStore {
    /// Opens the store; a missing file means no checkpoints yet.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file: Option<CheckpointFile> = read_state_file(path, "checkpoint file")?;
        let saved = file.map(|f| f.shards).unwrap_or_default();
        Ok(FileCheckpointStore {
            path: path.to_path_buf(),
            saved,
        })
    }

    /// Checkpoints as last saved.
    pub fn checkpoints(&self) -> &BTreeMap<String, u64> {
        &self.saved
    }

    /// Merges `latest` over what is saved and writes the file if anything moved forward.
    pub fn save(&mut self, latest: &BTreeMap<String, u64>) -> io::Result<bool> {
        let mut merged = self.saved.clone();
        for (shard, &position) in latest {
            let entry = merged.entry(shard.clone()).or_insert(position);
            *entry = (*entry).max(position);
        }
        if merged == self.saved {
            return Ok(false);
        }
        let doc = CheckpointFile {
            version: 1,
            shards: merged.clone(),
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

    #[test]
    fn saves_only_forward_moves_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp/stream.json");
        let mut store = FileCheckpointStore::open(&path).unwrap();
        assert!(store.checkpoints().is_empty());
        assert!(store.save(&BTreeMap::from([("f".into(), 100)])).unwrap());
        assert!(!store.save(&BTreeMap::from([("f".into(), 50)])).unwrap());
        let reopened = FileCheckpointStore::open(&path).unwrap();
        assert_eq!(reopened.checkpoints(), &BTreeMap::from([("f".into(), 100)]));
        std::fs::write(&path, b"garbage").unwrap();
        let err = FileCheckpointStore::open(&path).err().unwrap();
        assert!(err.to_string().contains("is not valid"));
    }
}
