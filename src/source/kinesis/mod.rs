//! The Kinesis Data Streams source. A coordinator discovers shards (`ListShards`, at start and
//! every `shard_discovery_interval`), takes each shard's lease in the DynamoDB lease table,
//! and starts one reader per shard — enhanced fan-out by default ([`efo`]), or polling
//! ([`polling`]) — from the lease's checkpoint, or from the configured start position for a
//! shard without one (children of a reshard always from `TRIM_HORIZON`, and only once every
//! parent is checkpointed `SHARD_END`). Readers send records into the pipeline through the
//! bounded source channel: when the pipeline is full they stop reading (back-pressure).
//!
//! # Layout
//! - [`shards`]: discovery and the parent-before-child rule.
//! - [`records`]: Kinesis records → pipeline records (KPL de-aggregation, positions).
//! - [`reader`]: what readers share (start positions, lag metric).
//! - [`efo`], [`polling`]: the two readers.

mod config;
pub mod efo;
pub mod polling;
pub mod reader;
pub mod records;
pub mod shards;

pub use self::config::{KinesisSourceConfig, KinesisStream, TYPE};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use spillway_formats::record::ShardId;
use spillway_sinks::aws::service_error;
use spillway_sinks::aws::ServiceError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::reader::{ReadEnd, ReaderContext, StartAt};
use self::records::ShardCursor;
use self::shards::{list_shards, parents_done, ShardInfo};
use crate::checkpoint::lease_table::{Lease, LeaseTable};
use crate::checkpoint::SHARD_END;
use crate::metrics::Metrics;
use crate::source::SourceMessage;

/// How shards are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    EnhancedFanOut,
    Polling,
}

/// Where a shard without a checkpoint starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    Latest,
    AtTimestamp(i64),
}

impl StartPosition {
    /// The lease table's text for it (the KCL's).
    fn lease_text(self) -> &'static str {
        match self {
            StartPosition::TrimHorizon => "TRIM_HORIZON",
            StartPosition::Latest => "LATEST",
            StartPosition::AtTimestamp(_) => "AT_TIMESTAMP",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KinesisSettings {
    /// Stream name or ARN.
    pub stream: String,
    pub mode: ReadMode,
    pub consumer_name: String,
    pub start: StartPosition,
    pub lease_table: String,
    pub worker_id: String,
    pub checkpoint_interval: Duration,
    pub discovery_interval: Duration,
    pub poll_interval: Duration,
}

/// The stream's ARN (`stream` may already be one).
pub async fn stream_arn(client: &Client, stream: &str) -> Result<String, ServiceError> {
    if stream.starts_with("arn:") {
        return Ok(stream.to_string());
    }
    let summary = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| service_error("Kinesis", "DescribeStreamSummary", stream, e))?;
    summary
        .stream_description_summary()
        .map(|d| d.stream_arn().to_string())
        .ok_or_else(|| {
            ServiceError::permanent(
                "Kinesis.NoStream",
                format!("stream {stream} has no description"),
            )
        })
}

/// Where a shard starts, from its lease: after the checkpoint (inside a KPL aggregate: at it,
/// skipping what was checkpointed), or the start position for a new lease.
fn start_of(lease: &Lease, start: StartPosition) -> (StartAt, Option<(String, u32)>) {
    match lease.checkpoint.as_str() {
        "TRIM_HORIZON" => (StartAt::TrimHorizon, None),
        "LATEST" => (StartAt::Latest, None),
        "AT_TIMESTAMP" => match start {
            StartPosition::AtTimestamp(ms) => (StartAt::AtTimestamp(ms), None),
            _ => (StartAt::TrimHorizon, None),
        },
        seq if lease.sub_sequence > 0 => (
            StartAt::AtSequence(seq.into()),
            Some((seq.into(), lease.sub_sequence)),
        ),
        seq => (StartAt::AfterSequence(seq.into()), None),
    }
}

struct Running {
    task: JoinHandle<()>,
    closed: Arc<AtomicBool>,
}

pub struct KinesisSource {
    pub client: Client,
    pub settings: KinesisSettings,
    pub leases: Arc<LeaseTable>,
    pub metrics: Arc<Metrics>,
}

impl KinesisSource {
    /// Runs until the pipeline stops listening. Shard readers that fail are restarted from
    /// their lease at the next discovery round.
    pub async fn run(self, tx: mpsc::Sender<SourceMessage>) -> Result<(), ServiceError> {
        let arn = stream_arn(&self.client, &self.settings.stream).await?;
        let consumer = match self.settings.mode {
            ReadMode::EnhancedFanOut => {
                Some(efo::consumer_arn(&self.client, &arn, &self.settings.consumer_name).await?)
            }
            ReadMode::Polling => None,
        };
        let ctx = ReaderContext {
            client: self.client.clone(),
            stream_arn: arn.clone(),
            tx: tx.clone(),
            metrics: self.metrics.clone(),
            poll_interval: self.settings.poll_interval,
        };
        let mut running: HashMap<String, Running> = HashMap::new();
        // Shards checkpointed SHARD_END (from the lease table), and shards this worker read to
        // their end whose SHARD_END checkpoint may not be written yet: neither is read again.
        let mut ended: HashSet<String> = HashSet::new();
        let mut drained: HashSet<String> = HashSet::new();
        let (done_tx, mut done_rx) =
            mpsc::unbounded_channel::<(String, Result<ReadEnd, ServiceError>)>();
        let mut shards: Vec<ShardInfo> = Vec::new();
        let mut last_discovery: Option<Instant> = None;
        while !tx.is_closed() {
            if last_discovery.is_none_or(|at| at.elapsed() >= self.settings.discovery_interval) {
                let listed = list_shards(&self.client, &arn).await;
                self.metrics
                    .source_disconnected
                    .store(listed.is_err(), Ordering::Relaxed);
                match listed {
                    Ok(listed) => shards = listed,
                    Err(e) => tracing::warn!(error = %e, "shard discovery failed; will retry"),
                }
                last_discovery = Some(Instant::now());
            }
            while let Ok((id, result)) = done_rx.try_recv() {
                running.remove(&id);
                match result {
                    Ok(ReadEnd::ShardEnd) => {
                        tracing::info!(shard = %id, "shard read to its end");
                        drained.insert(id);
                    }
                    Ok(ReadEnd::Stopped) => {}
                    Err(e) => {
                        tracing::warn!(shard = %id, error = %e, "shard reader failed; restarting it from its lease")
                    }
                }
            }
            let listed: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
            for shard in &shards {
                if let Some(reader) = running.get(&shard.id) {
                    reader.closed.store(shard.closed, Ordering::Relaxed);
                    continue;
                }
                if ended.contains(&shard.id) || drained.contains(&shard.id) {
                    continue;
                }
                for parent in &shard.parents {
                    if listed.contains(parent.as_str()) && !ended.contains(parent) {
                        if let Ok(Some(lease)) = self.leases.get(parent).await {
                            if lease.checkpoint == SHARD_END {
                                ended.insert(parent.clone());
                            }
                        }
                    }
                }
                if !parents_done(shard, &listed, &ended) {
                    continue;
                }
                // A child of a reshard starts at the beginning of its shard, never LATEST.
                let start = if shard.parents.iter().any(|p| listed.contains(p.as_str())) {
                    StartPosition::TrimHorizon
                } else {
                    self.settings.start
                };
                let lease = match self
                    .leases
                    .take(&shard.id, &shard.parents, start.lease_text())
                    .await
                {
                    Ok(lease) => lease,
                    Err(e) => {
                        tracing::warn!(shard = %shard.id, error = %e, "cannot take the shard's lease; will retry");
                        continue;
                    }
                };
                if lease.checkpoint == SHARD_END {
                    ended.insert(shard.id.clone());
                    continue;
                }
                let (at, skip) = start_of(&lease, start);
                let closed = Arc::new(AtomicBool::new(shard.closed));
                let cursor = ShardCursor::new(ShardId::from(shard.id.as_str()), skip);
                tracing::info!(shard = %shard.id, start = ?at, "reading shard");
                let (ctx, consumer, flag, done, id) = (
                    ctx.clone(),
                    consumer.clone(),
                    closed.clone(),
                    done_tx.clone(),
                    shard.id.clone(),
                );
                let task = tokio::spawn(async move {
                    let result = match consumer {
                        Some(consumer) => efo::read(&ctx, &consumer, at, cursor, flag).await,
                        None => polling::read(&ctx, at, cursor).await,
                    };
                    let _ = done.send((id, result));
                });
                running.insert(shard.id.clone(), Running { task, closed });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        for (_, reader) in running {
            reader.task.abort();
        }
        Ok(())
    }
}
