//! The pipeline: Decode → Partition → Buffer → (Encode + Deliver) → Acknowledge. One task
//! takes chunks of records from the source, registers them with the checkpoint tracker,
//! partitions them into the batcher, and hands closed batches to the delivery stage; a tick
//! closes buffers by age. On shutdown it stops intake, flushes every buffer and waits for
//! every delivery, so that the final checkpoint covers everything read.
//!
//! Under `exactly_once` with a fence (Kinesis leases), a record its fence refuses is not
//! buffered, a segment whose lease is lost is neither logged nor written, and a shard taken
//! back under a new lease starts from the segment log afresh.

mod batcher;
mod deliver;
mod eviction;
mod memory;
mod partitioner;
mod segments;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use spillway_formats::record::{
    Batch, ErrorOutputType, FailedRecord, Fence, PartitionKey, Record, ShardId, StablePosition,
};
use spillway_sinks::retry::until_durable;
use spillway_sinks::SinkError;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use self::batcher::{Batcher, FlushPolicy, FlushReason};
pub use self::deliver::{Concurrency, Deliverer};
pub use self::eviction::default_max_open;
pub use self::memory::{MemoryBudget, Reservation};
pub use self::partitioner::{PartitionError, Partitioner};
pub use self::segments::{ClosedSegment, SegmentBatcher};
use crate::checkpoint::lease_table::LeaseError;
use crate::checkpoint::{CheckpointError, Progress, SegmentLog, StoredCheckpoints};
use crate::metrics::Metrics;
use crate::source::SourceMessage;

/// How often buffers are checked for age.
const TICK: Duration = Duration::from_millis(100);
/// Decode failures are dead-lettered in groups of at most this many.
const FAILED_GROUP: usize = 1000;
/// The warning that the cap on open partitions closes buffers early, at most this often.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Why the pipeline stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The source ended (end of input).
    SourceEnded,
    /// A shutdown signal arrived.
    Shutdown,
    /// A shutdown signal arrived, and `shutdown_timeout` passed before every delivery ended:
    /// this many records were still unacknowledged (the next run reads them again).
    ShutdownTimedOut { unacknowledged: usize },
}

/// How records are buffered.
enum Buffers {
    /// One buffer per partition key (Firehose's way).
    ByKey(Batcher),
    /// `exactly_once`: buffers per shard segment, whose boundaries go to the log first.
    BySegment {
        batcher: SegmentBatcher,
        log: Arc<dyn SegmentLog>,
        /// What a restart resumes from: segments below it may leave the log.
        stored: StoredCheckpoints,
        /// Per shard, the reading (position >> 40) the batcher's segments are from.
        readings: std::collections::HashMap<ShardId, u64>,
    },
}

pub struct Pipeline {
    partitioner: Partitioner,
    buffers: Buffers,
    deliverer: Deliverer,
    progress: Progress,
    metrics: Arc<Metrics>,
    failed: Vec<FailedRecord>,
    started: Instant,
    /// When the cap on open partitions was last warned about.
    cap_warned: Option<Instant>,
}

impl Pipeline {
    /// A pipeline; with a `segment_log`, batching is per shard segment (`exactly_once`),
    /// and a segment leaves the log once `stored` checkpoints are past it.
    pub fn new(
        partitioner: Partitioner,
        policy: FlushPolicy,
        deliverer: Deliverer,
        progress: Progress,
        metrics: Arc<Metrics>,
        segment_log: Option<(Arc<dyn SegmentLog>, StoredCheckpoints)>,
    ) -> Self {
        let buffers = match segment_log {
            None => Buffers::ByKey(Batcher::new(policy)),
            Some((log, stored)) => Buffers::BySegment {
                batcher: SegmentBatcher::new(policy),
                log,
                stored,
                readings: Default::default(),
            },
        };
        Pipeline {
            partitioner,
            buffers,
            deliverer,
            progress,
            metrics,
            failed: Vec::new(),
            started: Instant::now(),
            cap_warned: None,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Runs until the source ends or `shutdown` resolves, then flushes and waits for every
    /// delivery.
    pub async fn run(
        mut self,
        mut source: mpsc::Receiver<SourceMessage>,
        shutdown: impl Future<Output = ()>,
    ) -> StopReason {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let reason = loop {
            tokio::select! {
                message = source.recv() => match message {
                    Some(SourceMessage::Records(records)) => self.accept(records).await,
                    Some(SourceMessage::Failed(failed)) => self.accept_failed(failed).await,
                    Some(SourceMessage::ShardEnd(shard)) => {
                        self.progress.shard_end(shard);
                    }
                    Some(SourceMessage::Drain { shard, done }) => {
                        self.progress.drain(shard, done);
                        self.flush_for_handover().await;
                    }
                    None => break StopReason::SourceEnded,
                },
                _ = tick.tick() => self.on_tick().await,
                _ = &mut shutdown => break StopReason::Shutdown,
            }
        };
        // Stop intake first: the source sees the closed channel and stops reading.
        drop(source);
        match &mut self.buffers {
            Buffers::ByKey(batcher) => {
                let closed = batcher.drain();
                self.dispatch(closed.into_iter().map(|(batch, _)| batch))
                    .await;
            }
            Buffers::BySegment { batcher, .. } => {
                let (closed, dropped) = batcher.drain();
                if dropped > 0 {
                    tracing::info!(records = dropped, "segments logged by an earlier run are incomplete at shutdown; the next run delivers them");
                }
                self.deliver_segments(closed).await;
            }
        }
        self.flush_failed().await;
        self.update_gauges();
        self.deliverer.finish().await;
        reason
    }

    /// A shard's lease is being handed over: its records should not wait for their buffers'
    /// interval, so every open buffer closes now. (Segments under `exactly_once` close at
    /// their logged or sized ends as usual.)
    async fn flush_for_handover(&mut self) {
        if let Buffers::ByKey(batcher) = &mut self.buffers {
            let closed = batcher.drain();
            self.dispatch(closed.into_iter().map(|(batch, _)| batch))
                .await;
        }
        self.flush_failed().await;
        self.update_gauges();
    }

    async fn accept(&mut self, records: Vec<Record>) {
        self.progress.register(records.iter().map(|r| &r.meta));
        let bytes: usize = records.iter().map(|r| r.data.len()).sum();
        Metrics::add(&self.metrics.incoming_records, records.len() as u64);
        Metrics::add(&self.metrics.incoming_bytes, bytes as u64);
        let now = self.now_ms();
        for record in records {
            match self.partitioner.partition(&record) {
                Ok(key) => self.buffer(&key, record, now).await,
                Err(e) => self.failed.push(FailedRecord {
                    data: record.data,
                    meta: record.meta,
                    error_type: ErrorOutputType::ProcessingFailed,
                    error_code: e.code.to_string(),
                    error_message: e.message,
                    attempts_made: 1,
                    destination_fields: Vec::new(),
                }),
            }
        }
        if self.failed.len() >= FAILED_GROUP {
            self.flush_failed().await;
        }
        self.update_gauges();
    }

    /// Records the source could not decode: registered, then dead-lettered with the rest.
    async fn accept_failed(&mut self, failed: Vec<FailedRecord>) {
        self.progress.register(failed.iter().map(|r| &r.meta));
        Metrics::add(&self.metrics.incoming_records, failed.len() as u64);
        self.failed.extend(failed);
        if self.failed.len() >= FAILED_GROUP {
            self.flush_failed().await;
        }
    }

    /// Adds a partitioned record to its buffer and delivers what that closed.
    async fn buffer(&mut self, key: &PartitionKey, record: Record, now: u64) {
        match &mut self.buffers {
            Buffers::ByKey(batcher) => {
                let closed = batcher.push(key, &record.data, record.meta, now);
                let cap = batcher.policy().max_open_partitions;
                self.count_early_flushes(&closed, cap);
                self.dispatch(closed.into_iter().map(|(batch, _)| batch))
                    .await;
            }
            Buffers::BySegment {
                batcher,
                log,
                readings,
                ..
            } => {
                let shard = record.meta.shard.clone();
                if let Some(fence) = self.deliverer.fence() {
                    let dropped = fence_segments(fence.as_ref(), batcher, readings, &record);
                    if dropped > 0 {
                        Metrics::add(&self.metrics.records_fenced, dropped as u64);
                        tracing::warn!(shard = %shard, records = dropped, "the shard's lease was lost: its buffered records are not written (the lease's new owner reads them again)");
                    }
                    if !fence.admits(&shard, record.meta.position) {
                        Metrics::add(&self.metrics.records_fenced, 1);
                        return;
                    }
                }
                if !batcher.knows(&shard) {
                    let planned = until_durable("segment-log read", 0, || async {
                        log.load(&shard).await.map_err(|e| log_error(&shard, e))
                    })
                    .await;
                    batcher.plan(&shard, planned);
                }
                let closed = batcher.push(key, &record.data, record.meta, now);
                self.deliver_segments(closed).await;
            }
        }
    }

    /// Counts buffers closed early by the memory budget or the cap on open partitions, and
    /// warns (at most once a minute) when the cap bites: its objects are small.
    fn count_early_flushes(&mut self, closed: &[(Batch, FlushReason)], cap: usize) {
        let count = |reason| closed.iter().filter(|(_, r)| *r == reason).count() as u64;
        let (by_memory, by_cap) = (
            count(FlushReason::MemoryBudget),
            count(FlushReason::OpenPartitions),
        );
        Metrics::add(&self.metrics.early_flushes_memory, by_memory);
        Metrics::add(&self.metrics.early_flushes_partitions, by_cap);
        let due = self
            .cap_warned
            .is_none_or(|at| at.elapsed() >= CAP_WARNING_EVERY);
        if by_cap > 0 && due {
            self.cap_warned = Some(Instant::now());
            tracing::warn!(
                cap = cap,
                closed = by_cap,
                "more partitions are open than buffering.max_open_partitions allows: the least recently written closed early, as small objects; raise max_open_partitions, or memory_budget (which sizes its default)"
            );
        }
    }

    /// Delivers closed segments; one decided in this run is logged before its objects.
    async fn deliver_segments(&mut self, closed: Vec<ClosedSegment>) {
        for segment in closed {
            let shard: ShardId = Arc::from(segment.segment.shard.as_str());
            let fenced = self.fence_refuses(&segment.batches);
            if fenced || (segment.newly_decided && !self.log_segments(&shard).await) {
                let records: usize = segment.batches.iter().map(Batch::len).sum();
                Metrics::add(&self.metrics.records_fenced, records as u64);
                tracing::warn!(shard = %shard, records, "the shard's lease was lost: a closed segment is neither logged nor written (the lease's new owner reads it again)");
                continue;
            }
            self.dispatch(segment.batches).await;
        }
    }

    /// Hands closed batches to the delivery stage, with the gauges (buffered bytes, which
    /// the delivery stage's memory budget reads) brought up to date first.
    async fn dispatch(&mut self, batches: impl IntoIterator<Item = Batch>) {
        self.update_gauges();
        for batch in batches {
            self.deliverer.dispatch(batch).await;
        }
    }

    /// Whether the fence refuses the first record of `batches` (a closed segment's: one shard,
    /// one reading).
    fn fence_refuses(&self, batches: &[Batch]) -> bool {
        let first = batches.iter().find_map(|b| b.records.first());
        match (self.deliverer.fence(), first) {
            (Some(fence), Some(record)) => !fence.admits(&record.meta.shard, record.meta.position),
            _ => false,
        }
    }

    /// Writes the shard's live segments to the segment log, retrying until it is durable.
    /// False when the shard's lease is lost (the log refuses a non-owner, or the fence closed
    /// meanwhile): the segment must not be written.
    async fn log_segments(&mut self, shard: &ShardId) -> bool {
        let fence = self.deliverer.fence().cloned();
        let Buffers::BySegment {
            batcher,
            log,
            stored,
            readings,
        } = &mut self.buffers
        else {
            return true;
        };
        // The stored checkpoint, not the tracker's: a segment acknowledged but not yet
        // checkpointed is re-read after a crash, and must close at its logged ends again.
        let checkpoint = stored
            .get(shard.as_ref())
            .filter(|c| !c.is_shard_end())
            .map(|c| StablePosition {
                sequence: c.sequence.map_or(c.position.to_string(), |s| s.to_string()),
                sub_sequence: c.sub_sequence.unwrap_or(0),
            });
        let segments = batcher.live_segments(shard, checkpoint.as_ref());
        let reading = readings.get(shard).map(|r| (r << 40) + 1);
        let lease_lost = || match (&fence, reading) {
            (Some(fence), Some(first)) => !fence.admits(shard, first),
            _ => false,
        };
        let mut delay = Duration::from_millis(100);
        loop {
            match log.save(shard, &segments).await {
                Ok(()) => return true,
                Err(CheckpointError::Lease(LeaseError::Lost { .. })) => return false,
                Err(_) if lease_lost() => return false,
                Err(e) => {
                    tracing::warn!(error = %log_error(shard, e), "cannot write the segment log; trying again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn on_tick(&mut self) {
        let now = self.now_ms();
        match &mut self.buffers {
            Buffers::ByKey(batcher) => {
                let closed = batcher.poll_expired(now);
                self.dispatch(closed.into_iter().map(|(batch, _)| batch))
                    .await;
            }
            Buffers::BySegment { batcher, .. } => {
                let closed = batcher.poll_expired(now);
                self.deliver_segments(closed).await;
            }
        }
        self.flush_failed().await;
        self.update_gauges();
    }

    async fn flush_failed(&mut self) {
        if !self.failed.is_empty() {
            let failed = std::mem::take(&mut self.failed);
            self.deliverer.dispatch_failed(failed).await;
        }
    }

    fn update_gauges(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let (bytes, partitions) = match &self.buffers {
            Buffers::ByKey(b) => (b.buffered_bytes(), b.open_partitions()),
            Buffers::BySegment { batcher: b, .. } => (b.buffered_bytes(), b.open_partitions()),
        };
        self.deliverer.memory().set_buffered(bytes);
        self.metrics.buffered_bytes.store(bytes as u64, Relaxed);
        self.metrics
            .open_partitions
            .store(partitions as u64, Relaxed);
    }
}

/// Keeps the segment batcher to the fence before `record` is buffered: once the fence refuses
/// the reading the batcher's segments for the shard are from (the lease was lost, and maybe
/// taken back for a new reading), the shard's segments are forgotten — their records are
/// fenced — and its log is read afresh before the next record it admits. Returns how many
/// buffered records were dropped.
fn fence_segments(
    fence: &dyn Fence,
    batcher: &mut SegmentBatcher,
    readings: &mut std::collections::HashMap<ShardId, u64>,
    record: &Record,
) -> usize {
    let shard = &record.meta.shard;
    let known = readings.insert(shard.clone(), record.meta.position >> 40);
    let stale = known.is_some_and(|known| !fence.admits(shard, (known << 40) + 1));
    if stale {
        batcher.forget(shard)
    } else {
        0
    }
}

/// A segment-log failure, for [`until_durable`]: retried until it succeeds, because no object
/// of a segment may be written before its boundaries are durable (the pipeline waits, and the
/// sources with it).
fn log_error(shard: &str, error: CheckpointError) -> SinkError {
    SinkError::retryable("SegmentLog", format!("shard {shard}: {error}"))
}

/// Keys and record metadata for the batchers' unit tests.
#[cfg(test)]
mod test_records {
    use std::sync::Arc;

    use spillway_formats::record::{PartitionKey, RecordMeta};

    pub fn key(k: &str) -> PartitionKey {
        PartitionKey(Arc::from(k))
    }

    /// Record `position` of `shard`, arriving at 1000 + `position` ms.
    pub fn meta(shard: &str, position: u64) -> RecordMeta {
        RecordMeta {
            shard: Arc::from(shard),
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms: 1000 + position as i64,
            prior_attempts: 0,
        }
    }
}
