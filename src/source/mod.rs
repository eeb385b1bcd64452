//! Sources: where records enter. Each produces chunks of [`Record`]s on a bounded channel, so
//! a full pipeline stops the source (back-pressure). A source is a folder with its config
//! (read from the `[source]` section into a [`Source`]) and its reader, registered with one
//! word in [`sources!`]: the file source reads NDJSON files, a folder, or stdin; the Kinesis
//! source reads a stream's shards under leases. [`read_back`] is the source of `redrive` and
//! `replay`, built from a destination's dead letter or backup rather than from config.
//!
//! [`Record`]: spillway_formats::record::Record

pub mod read_back;

use std::any::Any;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use spillway_formats::record::{FailedRecord, Record, ShardId};
use spillway_sinks::settings::Problems;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::checkpoint::{CheckpointLock, CheckpointStore, SegmentLog, StoredCheckpoints};
use crate::metrics::Metrics;

/// Declares the source folders and lists their types: adding a source is its folder and its
/// name here.
macro_rules! sources {
    ($($folder:ident),* $(,)?) => {
        $(pub mod $folder;)*

        /// Every source type, from the folders above.
        pub fn source_types() -> impl Iterator<Item = &'static SourceType> {
            [$(&$folder::TYPE),*].into_iter()
        }
    };
}

sources!(file, kinesis);

/// What a source sends the pipeline, in order per shard.
#[derive(Debug)]
pub enum SourceMessage {
    Records(Vec<Record>),
    /// Records the source itself could not turn into records (e.g. a corrupt KPL aggregate):
    /// they are dead-lettered, and acknowledged like the rest.
    Failed(Vec<FailedRecord>),
    /// The shard was read to its end; its checkpoint becomes `SHARD_END` once every record
    /// sent before this is acknowledged.
    ShardEnd(ShardId),
    /// The shard's reader stopped (its lease is being handed over): flush, and answer on
    /// `done` with its checkpoint once every record sent before this is acknowledged.
    Drain {
        shard: ShardId,
        done: tokio::sync::oneshot::Sender<Option<crate::checkpoint::Checkpoint>>,
    },
}

/// A kind of source: the `type` it answers to and how its section is read.
pub struct SourceType {
    /// The section's `type`, e.g. `"file"`.
    pub name: &'static str,
    /// Reads the section (without its `type`), reporting problems at `source.<key>`; `None`
    /// when there were any.
    pub read: fn(&toml::Value, &SourceContext, &mut Problems) -> Option<Box<dyn Source>>,
}

/// What a section is read with, beside its own keys.
pub struct SourceContext<'a> {
    /// The delivery stream's name (e.g. to name the consumer it registers).
    pub stream: &'a str,
}

/// A source as configured, checked: ready to start.
#[async_trait]
pub trait Source: fmt::Debug + Send + Sync {
    /// Whether it reads the same records again after a restart (`exactly_once` needs it).
    fn rereadable(&self) -> bool;

    /// The checkpoint file it keeps, which one process at a time may hold; `None` when it
    /// keeps none, or keeps its checkpoints elsewhere (a lease table).
    fn checkpoint_file(&self) -> Option<&Path> {
        None
    }

    /// Where its checkpoint file goes when the config names none.
    fn default_checkpoint_file(&mut self, _path: PathBuf) {}

    /// Starts reading into `ctx.tx` from where its checkpoints say.
    async fn start(&self, ctx: StartContext) -> anyhow::Result<StartedSource>;

    /// For tests and tools that look at a particular source's settings.
    fn as_any(&self) -> &dyn Any;
}

/// What a source is started with.
pub struct StartContext {
    pub tx: mpsc::Sender<SourceMessage>,
    pub metrics: Arc<Metrics>,
    /// The lock on [`Source::checkpoint_file`], taken before anything was built.
    pub lock: Option<CheckpointLock>,
    /// Told the positions already stored, so the exactly-once segment log is pruned right.
    pub stored: StoredCheckpoints,
    pub exactly_once: bool,
    pub max_record_size: usize,
    /// The checkpoint tracker (a source sharing its shards tells it what it gave up).
    pub progress: crate::checkpoint::Progress,
}

/// A started source.
pub struct StartedSource {
    /// The reading task; it ends when the input does (a stream's never does).
    pub task: JoinHandle<anyhow::Result<SourceStats>>,
    /// Where its acknowledged positions are saved; `None`: nothing to resume (stdin).
    pub checkpoints: Option<Box<dyn CheckpointStore>>,
    /// How often checkpoints are written while running.
    pub checkpoint_every: Duration,
    /// The segment log of `exactly_once` delivery, kept with its checkpoints.
    pub segment_log: Option<Arc<dyn SegmentLog>>,
    /// Which records may still be written, when other workers may take the source's shards.
    pub fence: Option<Arc<dyn spillway_formats::record::Fence>>,
}

/// A gzip input whose data is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamagedInput {
    pub file: String,
    /// Decompressed bytes read before the damage.
    pub decoded_bytes: u64,
    pub error: String,
    /// Whether this run dead-lettered it (false: an earlier run did; its checkpoint is past it).
    pub dead_lettered_now: bool,
}

/// What a source read, and what it could not: printed in the run summary. (Sources that
/// report nothing of the kind leave it empty.)
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SourceStats {
    pub files: usize,
    pub records: u64,
    /// Bytes skipped because a checkpoint said they were already delivered.
    pub resumed_bytes: u64,
    /// Files read from their start because they are not the file their checkpoint was for.
    pub replaced: Vec<String>,
    pub damaged: Vec<DamagedInput>,
    /// Files that could not be opened or read, with the reason: the run fails at the end.
    pub unreadable: Vec<(String, String)>,
}
