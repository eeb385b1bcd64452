//! The delivery stage: runs closed batches through the retrying sink with bounded
//! concurrency and memory (waiting for a free slot, or for memory, is the back-pressure that
//! stops intake), writes the source-record backup beside it when enabled, sends what failed
//! to the dead letter (both retried until durable), and only then acknowledges every record
//! of the batch to the checkpoint tracker's owner ([`Progress`]).
//!
//! Memory: the buffering budget ([`MemoryBudget`]) covers the batches being encoded too. A
//! batch in flight is reckoned at [`ENCODE_MEMORY_FACTOR`] × its incoming bytes (its records,
//! the Arrow columns built from them, the encoder's pages and the upload buffer), and reserved
//! in the budget before it starts.

use std::sync::Arc;

use bytes::Bytes;
use spillway_formats::record::{Batch, FailedRecord};
use spillway_sinks::backup::{self, SourceBackup};
use spillway_sinks::dead_letter::{write_durably, DeadLetter};
use spillway_sinks::retry::RetryingSink;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::memory::MemoryBudget;
use crate::checkpoint::Progress;
use crate::metrics::Metrics;

/// What a batch in flight holds, in multiples of its incoming bytes: the records, their Arrow
/// columns, the encoded pages and the upload buffer. Measured: a 64 MiB Parquet flush peaks
/// near 180 MiB of RSS in `cargo bench --bench convert` (S1/S2).
pub const ENCODE_MEMORY_FACTOR: usize = 3;

pub struct Deliverer {
    sink: Arc<RetryingSink>,
    dead_letter: Arc<dyn DeadLetter>,
    backup: Option<Arc<SourceBackup>>,
    progress: Progress,
    metrics: Arc<Metrics>,
    slots: Arc<Semaphore>,
    memory: MemoryBudget,
    in_flight: JoinSet<()>,
}

impl Deliverer {
    pub fn new(
        sink: Arc<RetryingSink>,
        dead_letter: Arc<dyn DeadLetter>,
        backup: Option<Arc<SourceBackup>>,
        progress: Progress,
        metrics: Arc<Metrics>,
        concurrency: usize,
        memory: MemoryBudget,
    ) -> Self {
        Deliverer {
            sink,
            dead_letter,
            backup,
            progress,
            metrics,
            slots: Arc::new(Semaphore::new(concurrency)),
            memory,
            in_flight: JoinSet::new(),
        }
    }

    /// Starts delivering `batch`, after waiting for a free slot and for memory.
    pub async fn dispatch(&mut self, batch: Batch) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let estimate = batch.incoming_bytes() * ENCODE_MEMORY_FACTOR;
        let reservation = self.memory.reserve(estimate).await;
        let (sink, dead_letter) = (self.sink.clone(), self.dead_letter.clone());
        let (progress, metrics, backup) = (
            self.progress.clone(),
            self.metrics.clone(),
            self.backup.clone(),
        );
        self.in_flight.spawn(async move {
            deliver_batch(
                sink,
                dead_letter,
                backup,
                &progress,
                &metrics,
                Arc::new(batch),
            )
            .await;
            drop(reservation);
            drop(slot);
        });
        self.reap();
    }

    /// Starts dead-lettering records that failed before batching (decode errors).
    pub async fn dispatch_failed(&mut self, failed: Vec<FailedRecord>) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let dead_letter = self.dead_letter.clone();
        let (progress, metrics) = (self.progress.clone(), self.metrics.clone());
        self.in_flight.spawn(async move {
            dead_letter_and_ack(&dead_letter, &progress, &metrics, &failed).await;
            drop(slot);
        });
        self.reap();
    }

    /// The memory budget it reserves batches in.
    pub fn memory(&self) -> &MemoryBudget {
        &self.memory
    }

    /// Waits for every delivery in flight.
    pub async fn finish(&mut self) {
        while let Some(result) = self.in_flight.join_next().await {
            if let Err(e) = result {
                tracing::error!(error = %e, "a delivery task failed");
            }
        }
    }

    fn reap(&mut self) {
        while let Some(result) = self.in_flight.try_join_next() {
            if let Err(e) = result {
                tracing::error!(error = %e, "a delivery task failed");
            }
        }
    }
}

async fn deliver_batch(
    sink: Arc<RetryingSink>,
    dead_letter: Arc<dyn DeadLetter>,
    backup: Option<Arc<SourceBackup>>,
    progress: &Progress,
    metrics: &Metrics,
    batch: Arc<Batch>,
) {
    let write_backup = async {
        if let Some(backup) = &backup {
            backup::write_durably(backup, &batch).await;
        }
    };
    let (delivery, ()) = tokio::join!(sink.deliver(batch.clone()), write_backup);
    let failed: Vec<FailedRecord> = delivery
        .failed
        .iter()
        .map(|f| FailedRecord {
            data: Bytes::copy_from_slice(batch.record_data(f.index)),
            meta: batch.records[f.index].meta.clone(),
            error_type: f.error_type,
            error_code: f.code.clone(),
            error_message: f.message.clone(),
            attempts_made: f.attempts,
            destination_fields: f.destination_fields.clone(),
        })
        .collect();
    if !failed.is_empty() {
        write_durably(&dead_letter, &failed).await;
        Metrics::add(&metrics.dead_lettered_records, failed.len() as u64);
    }
    Metrics::add(&metrics.delivered_records, delivery.delivered as u64);
    Metrics::add(&metrics.delivered_bytes, delivery.bytes);
    Metrics::add(&metrics.objects_written, delivery.objects.len() as u64);
    let age = chrono::Utc::now().timestamp_millis() - batch.first_arrival_ms;
    metrics
        .data_freshness_ms
        .store(age.max(0) as u64, std::sync::atomic::Ordering::Relaxed);
    progress.ack(batch.records.iter().map(|r| &r.meta));
}

async fn dead_letter_and_ack(
    dead_letter: &Arc<dyn DeadLetter>,
    progress: &Progress,
    metrics: &Metrics,
    failed: &[FailedRecord],
) {
    write_durably(dead_letter, failed).await;
    Metrics::add(&metrics.dead_lettered_records, failed.len() as u64);
    progress.ack(failed.iter().map(|r| &r.meta));
}
