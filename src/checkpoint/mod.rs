//! Checkpoints: the [`CheckpointTracker`] turns out-of-order acknowledgements into per-shard
//! checkpoints (the highest position below which every record is durable), and a store keeps
//! them across restarts (a local file here; a DynamoDB lease table for Kinesis).

mod file_store;
mod tracker;

pub use self::file_store::FileCheckpointStore;
pub use self::tracker::{Checkpoint, CheckpointTracker, SHARD_END};
