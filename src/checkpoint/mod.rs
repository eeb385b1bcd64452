//! Checkpoints: the [`CheckpointTracker`] turns out-of-order acknowledgements into per-shard
//! checkpoints (the highest position below which every record is durable), owned by one task
//! that takes registrations and acknowledgements as messages ([`Progress`]); and a
//! [`CheckpointStore`] keeps them across restarts: a local file for the file source, the
//! DynamoDB lease table for Kinesis.

mod file_store;
pub mod lease_table;
mod lock;
mod progress;
mod segment_log;
mod tracker;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use spillway_sinks::aws::ServiceError;

pub use self::file_store::{FileCheckpoint, FileCheckpointStore, FileIdentities, FileIdentity};
use self::lease_table::{LeaseError, LeaseTable};
pub use self::lock::{CheckpointLock, LockError};
pub use self::progress::{Progress, Snapshot};
pub use self::segment_log::{FileSegmentLog, LeaseSegmentLog, SegmentLog};
pub use self::tracker::{Checkpoint, CheckpointTracker, SHARD_END};

/// The checkpoints as last written to their store: what a restart resumes from. Anything
/// that may only be forgotten once a restart can no longer need it — the `exactly_once`
/// segment log prunes a segment once its records are below the checkpoint — goes by these,
/// not by the tracker's, which run ahead of the store between two writes.
#[derive(Clone, Default)]
pub struct StoredCheckpoints(Arc<std::sync::Mutex<BTreeMap<String, Checkpoint>>>);

impl StoredCheckpoints {
    /// The stored checkpoint of `shard`, if any.
    pub fn get(&self, shard: &str) -> Option<Checkpoint> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(shard)
            .cloned()
    }

    /// Records that `written` are now stored.
    pub fn record(&self, written: &BTreeMap<String, Checkpoint>) {
        let mut stored = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (shard, checkpoint) in written {
            stored.insert(shard.clone(), checkpoint.clone());
        }
    }
}

/// Reads the JSON state file at `path` (`what` names it in errors); `None` when it does not
/// exist yet.
fn read_state_file<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{what} {} is not valid: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why checkpoints or segment boundaries could not be read or stored: all are retried by
/// the caller while running, and fail the run when the final checkpoint cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A local state file (checkpoint file, segment log).
    #[error("{what} {path}: {source}")]
    File {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The DynamoDB lease table.
    #[error("lease table: {0}")]
    LeaseTable(#[from] ServiceError),
    /// A lease the write was conditional on.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// What the store holds is not what Spillway wrote.
    #[error("{0}")]
    Invalid(String),
}

/// Where checkpoints are kept.
#[async_trait]
pub trait CheckpointStore: Send {
    /// Stores the checkpoints that moved; an error means they are not stored (retried later).
    async fn save(
        &mut self,
        checkpoints: &BTreeMap<String, Checkpoint>,
    ) -> Result<(), CheckpointError>;

    /// After the final checkpoint at a shutdown: lets go of what the store holds (the
    /// lease table's leases, so that another worker takes them at once).
    async fn close(&mut self) {}
}

#[async_trait]
impl CheckpointStore for FileCheckpointStore {
    async fn save(
        &mut self,
        checkpoints: &BTreeMap<String, Checkpoint>,
    ) -> Result<(), CheckpointError> {
        let positions = checkpoints
            .iter()
            .map(|(shard, c)| (shard.clone(), c.position))
            .collect();
        FileCheckpointStore::save(self, &positions).map_err(|source| CheckpointError::File {
            what: "checkpoint file",
            path: self.path().to_path_buf(),
            source,
        })?;
        Ok(())
    }
}

/// Kinesis checkpoints in the lease table: sequence number and KPL sub-sequence per shard.
pub struct LeaseCheckpoints {
    pub table: Arc<LeaseTable>,
    written: HashMap<String, Checkpoint>,
}

impl LeaseCheckpoints {
    pub fn new(table: Arc<LeaseTable>) -> Self {
        LeaseCheckpoints {
            table,
            written: HashMap::new(),
        }
    }
}

#[async_trait]
impl CheckpointStore for LeaseCheckpoints {
    async fn save(
        &mut self,
        checkpoints: &BTreeMap<String, Checkpoint>,
    ) -> Result<(), CheckpointError> {
        for (shard, checkpoint) in checkpoints {
            if self.written.get(shard) == Some(checkpoint) {
                continue;
            }
            let Some(sequence) = checkpoint.sequence.as_deref() else {
                continue;
            };
            match self
                .table
                .checkpoint(shard, sequence, checkpoint.sub_sequence.unwrap_or(0))
                .await
            {
                Ok(()) => {
                    self.written.insert(shard.clone(), checkpoint.clone());
                }
                Err(LeaseError::Lost { shard }) => {
                    tracing::warn!(
                        shard,
                        "the shard's lease is held by another worker; its checkpoint is not moved"
                    );
                    self.written.insert(shard.clone(), checkpoint.clone());
                }
                Err(LeaseError::Dynamo(e)) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Releases every lease this worker holds: their final checkpoints are written, so
    /// another worker can go on from them at once instead of after the failover time.
    async fn close(&mut self) {
        for shard in self.table.held_shards() {
            match self.table.release(&shard, None).await {
                Ok(()) => tracing::info!(shard, "lease released"),
                Err(e) => {
                    tracing::warn!(shard, error = %e, "cannot release the lease; another worker takes it once it expires")
                }
            }
        }
    }
}
