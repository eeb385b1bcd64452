//! The segment log of `exactly_once` delivery: for each shard, the segments whose boundaries
//! were decided and not yet passed by the checkpoint. A boundary is logged before any object
//! of its segment is written, so a run that re-reads the shard after a crash closes the same
//! segments and names the same objects. Kept beside the checkpoints: a local JSON file for the
//! file source, an attribute of the shard's lease row for Kinesis.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use spillway_formats::record::Segment;
use spillway_sinks::fs::write_atomically;

use super::lease_table::LeaseTable;
use super::{read_state_file, CheckpointError};

/// Where segment boundaries are kept.
#[async_trait]
pub trait SegmentLog: Send + Sync {
    /// The segments earlier runs logged for `shard`.
    async fn load(&self, shard: &str) -> Result<Vec<Segment>, CheckpointError>;
    /// Replaces the shard's logged segments; they are durable when this returns.
    async fn save(&self, shard: &str, segments: &[Segment]) -> Result<(), CheckpointError>;
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SegmentFile {
    version: u32,
    shards: BTreeMap<String, Vec<Segment>>,
}

/// The segment log in a local JSON file, replaced atomically on every save.
pub struct FileSegmentLog {
    path: PathBuf,
    shards: Mutex<BTreeMap<String, Vec<Segment>>>,
}

impl FileSegmentLog {
    /// Opens the log; a missing file means nothing logged yet.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file: Option<SegmentFile> = read_state_file(path, "segment log")?;
        let shards = file.map(|f| f.shards).unwrap_or_default();
        Ok(FileSegmentLog {
            path: path.to_path_buf(),
            shards: Mutex::new(shards),
        })
    }

    /// The log that goes with a checkpoint file: `<name>.segments.json` beside it.
    pub fn beside(checkpoint_file: &Path) -> PathBuf {
        checkpoint_file.with_extension("segments.json")
    }
}

#[async_trait]
impl SegmentLog for FileSegmentLog {
    async fn load(&self, shard: &str) -> Result<Vec<Segment>, CheckpointError> {
        let shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        Ok(shards.get(shard).cloned().unwrap_or_default())
    }

    async fn save(&self, shard: &str, segments: &[Segment]) -> Result<(), CheckpointError> {
        let mut shards = self.shards.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = shards.clone();
        if segments.is_empty() {
            next.remove(shard);
        } else {
            next.insert(shard.to_string(), segments.to_vec());
        }
        if next == *shards {
            return Ok(());
        }
        let doc = SegmentFile {
            version: 1,
            shards: next,
        };
        let text = serde_json::to_vec_pretty(&doc)
            .map_err(|e| CheckpointError::Invalid(format!("segment log: {e}")))?;
        write_atomically(&self.path, |w| w.write_all(&text).map(|()| true)).map_err(|source| {
            CheckpointError::File {
                what: "cannot write segment log",
                path: self.path.clone(),
                source,
            }
        })?;
        *shards = doc.shards;
        Ok(())
    }
}

/// The segment log in the lease table: the `spillwaySegments` attribute (JSON) of each
/// shard's row, written under the same lease-counter condition as its checkpoint.
pub struct LeaseSegmentLog {
    pub table: Arc<LeaseTable>,
}

#[async_trait]
impl SegmentLog for LeaseSegmentLog {
    async fn load(&self, shard: &str) -> Result<Vec<Segment>, CheckpointError> {
        match self.table.segments(shard).await? {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                CheckpointError::Invalid(format!(
                    "the segment log of shard {shard} in the lease table is not valid: {e}"
                ))
            }),
            None => Ok(Vec::new()),
        }
    }

    async fn save(&self, shard: &str, segments: &[Segment]) -> Result<(), CheckpointError> {
        let text = serde_json::to_string(segments)
            .map_err(|e| CheckpointError::Invalid(format!("segment log: {e}")))?;
        self.table.save_segments(shard, &text).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use spillway_formats::record::StablePosition;

    use super::*;

    #[tokio::test]
    async fn the_file_log_keeps_each_shards_segments_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = FileSegmentLog::beside(&dir.path().join("cp/stream.json"));
        assert!(path.ends_with("cp/stream.segments.json"));
        let segment = Segment {
            shard: "f".into(),
            first: StablePosition {
                sequence: "10".into(),
                sub_sequence: 0,
            },
            last: StablePosition {
                sequence: "99".into(),
                sub_sequence: 0,
            },
            first_arrival_ms: 5,
        };
        let log = FileSegmentLog::open(&path).unwrap();
        log.save("f", std::slice::from_ref(&segment)).await.unwrap();
        log.save("g", std::slice::from_ref(&segment)).await.unwrap();
        log.save("g", &[]).await.unwrap();
        let reopened = FileSegmentLog::open(&path).unwrap();
        assert_eq!(reopened.load("f").await.unwrap(), vec![segment]);
        assert!(reopened.load("g").await.unwrap().is_empty());
        std::fs::write(&path, b"{").unwrap();
        let err = FileSegmentLog::open(&path).err().unwrap();
        assert!(err.to_string().contains("is not valid"), "{err}");
    }
}
