//! The pipeline: Decode → Partition → Buffer → (Encode + Deliver) → Acknowledge. One task
//! takes chunks of records from the source, registers them with the checkpoint tracker,
//! partitions them into the batcher, and hands closed batches to the delivery stage; a tick
//! closes buffers by age. On shutdown it stops intake, flushes every buffer and waits for
//! every delivery, so that the final checkpoint covers everything read.

mod batcher;
mod deliver;
mod partitioner;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spillway_formats::record::{ErrorOutputType, FailedRecord, Record};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub use self::batcher::{Batcher, FlushPolicy, FlushReason};
pub use self::deliver::Deliverer;
pub use self::partitioner::{PartitionError, Partitioner};
use crate::checkpoint::CheckpointTracker;
use crate::metrics::Metrics;
use crate::source::SourceMessage;

/// How often buffers are checked for age.
const TICK: Duration = Duration::from_millis(100);
/// Decode failures are dead-lettered in groups of at most this many.
const FAILED_GROUP: usize = 1000;

/// Why the pipeline stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The source ended (end of input).
    SourceEnded,
    /// A shutdown signal arrived.
    Shutdown,
}

pub struct Pipeline {
    partitioner: Partitioner,
    batcher: Batcher,
    deliverer: Deliverer,
    tracker: Arc<Mutex<CheckpointTracker>>,
    metrics: Arc<Metrics>,
    failed: Vec<FailedRecord>,
    started: Instant,
}

impl Pipeline {
    pub fn new(
        partitioner: Partitioner,
        policy: FlushPolicy,
        deliverer: Deliverer,
        tracker: Arc<Mutex<CheckpointTracker>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Pipeline {
            partitioner,
            batcher: Batcher::new(policy),
            deliverer,
            tracker,
            metrics,
            failed: Vec::new(),
            started: Instant::now(),
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
                        self.tracker.lock().unwrap_or_else(|p| p.into_inner()).register_shard_end(&shard);
                    }
                    None => break StopReason::SourceEnded,
                },
                _ = tick.tick() => self.on_tick().await,
                _ = &mut shutdown => break StopReason::Shutdown,
            }
        };
        // Stop intake first: the source sees the closed channel and stops reading.
        drop(source);
        for (batch, _) in self.batcher.drain() {
            self.deliverer.dispatch(batch).await;
        }
        self.flush_failed().await;
        self.update_gauges();
        self.deliverer.finish().await;
        reason
    }

    async fn accept(&mut self, records: Vec<Record>) {
        {
            let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
            for record in &records {
                tracker.register(&record.meta);
            }
        }
        let bytes: usize = records.iter().map(|r| r.data.len()).sum();
        Metrics::add(&self.metrics.incoming_records, records.len() as u64);
        Metrics::add(&self.metrics.incoming_bytes, bytes as u64);
        let now = self.now_ms();
        for record in records {
            match self.partitioner.partition(&record) {
                Ok(key) => {
                    for (batch, _) in self.batcher.push(&key, &record.data, record.meta, now) {
                        self.deliverer.dispatch(batch).await;
                    }
                }
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
        {
            let mut tracker = self.tracker.lock().unwrap_or_else(|p| p.into_inner());
            for record in &failed {
                tracker.register(&record.meta);
            }
        }
        Metrics::add(&self.metrics.incoming_records, failed.len() as u64);
        self.failed.extend(failed);
        if self.failed.len() >= FAILED_GROUP {
            self.flush_failed().await;
        }
    }

    async fn on_tick(&mut self) {
        let now = self.now_ms();
        for (batch, _) in self.batcher.poll_expired(now) {
            self.deliverer.dispatch(batch).await;
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
        self.metrics
            .buffered_bytes
            .store(self.batcher.buffered_bytes() as u64, Relaxed);
        self.metrics
            .open_partitions
            .store(self.batcher.open_partitions() as u64, Relaxed);
    }
}
