//! The delivery stage: runs closed batches through the retrying sink with bounded
//! concurrency and memory (waiting for a free slot, or for memory, is the back-pressure that
//! stops intake), writes the source-record backup beside it when enabled, sends what failed
//! to the dead letter (both retried until durable), and only then acknowledges every record
//! of the batch to the checkpoint tracker's owner ([`Progress`]).
//!
//! Concurrency: `concurrency` full-size batches deliver at once, and small batches weigh their
//! share of the size hint (at least a [`SMALL_PER_SLOT`]th of a slot), so that many small
//! objects — a flush of thousands of partitions — are written up to [`SMALL_PER_SLOT`] times
//! as many at once: their syncs, renames and requests overlap instead of queueing.
//!
//! Memory: the buffering budget ([`MemoryBudget`]) covers the batches being encoded too. A
//! batch in flight is reckoned at [`ENCODE_MEMORY_FACTOR`] × its incoming bytes (its records,
//! the Arrow columns built from them, the encoder's pages and the upload buffer), and reserved
//! in the budget before it starts.
//!
//! Fencing: with a source that shares its shards (Kinesis leases), every batch carries the
//! source's fence; records it stops admitting are not written (see the retrying sink) and
//! not acknowledged — the lease's new owner reads them again.

use std::sync::Arc;

use bytes::Bytes;
use spillway_formats::record::{Batch, FailedRecord, Fence};
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

/// A delivery slot holds one full-size batch, or up to this many small ones.
pub const SMALL_PER_SLOT: u32 = 16;

/// How many deliveries run at once.
#[derive(Clone, Copy, Debug)]
pub struct Concurrency {
    /// Full-size batches at once (`destination.concurrency`).
    pub slots: usize,
    /// A full-size batch's incoming bytes (the buffering size hint).
    pub full_batch_bytes: usize,
}

impl Concurrency {
    fn permits(&self) -> usize {
        self.slots * SMALL_PER_SLOT as usize
    }

    /// The permits a batch of `bytes` takes: its share of a slot, at least one.
    fn weight(&self, bytes: usize) -> u32 {
        let share =
            (bytes.saturating_mul(SMALL_PER_SLOT as usize)).div_ceil(self.full_batch_bytes.max(1));
        share.clamp(1, SMALL_PER_SLOT as usize) as u32
    }
}

pub struct Deliverer {
    sink: Arc<RetryingSink>,
    dead_letter: Arc<dyn DeadLetter>,
    backup: Option<Arc<SourceBackup>>,
    progress: Progress,
    metrics: Arc<Metrics>,
    slots: Arc<Semaphore>,
    concurrency: Concurrency,
    memory: MemoryBudget,
    in_flight: JoinSet<()>,
    fence: Option<Arc<dyn Fence>>,
}

impl Deliverer {
    pub fn new(
        sink: Arc<RetryingSink>,
        dead_letter: Arc<dyn DeadLetter>,
        backup: Option<Arc<SourceBackup>>,
        progress: Progress,
        metrics: Arc<Metrics>,
        concurrency: Concurrency,
        memory: MemoryBudget,
    ) -> Self {
        Deliverer {
            sink,
            dead_letter,
            backup,
            progress,
            metrics,
            slots: Arc::new(Semaphore::new(concurrency.permits())),
            concurrency,
            memory,
            in_flight: JoinSet::new(),
            fence: None,
        }
    }

    /// Batches carry `fence`: records it stops admitting are neither written nor acknowledged.
    pub fn with_fence(mut self, fence: Option<Arc<dyn Fence>>) -> Self {
        self.fence = fence;
        self
    }

    /// Starts delivering `batch`, after waiting for a free slot and for memory.
    pub async fn dispatch(&mut self, mut batch: Batch) {
        batch.fence = self.fence.clone();
        let weight = self.concurrency.weight(batch.incoming_bytes());
        let Ok(slot) = self.slots.clone().acquire_many_owned(weight).await else {
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
        let limit = self.memory.limit();
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
            // The batch and its encoding are freed: keep the process within its budget.
            crate::allocator::release_above(limit);
        });
        self.reap();
    }

    /// Starts dead-lettering records that failed before batching (decode errors).
    pub async fn dispatch_failed(&mut self, failed: Vec<FailedRecord>) {
        let Ok(slot) = self.slots.clone().acquire_many_owned(SMALL_PER_SLOT).await else {
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

    /// The fence its batches carry, if any.
    pub fn fence(&self) -> Option<&Arc<dyn Fence>> {
        self.fence.as_ref()
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
    if delivery.fenced.is_empty() {
        progress.ack(batch.records.iter().map(|r| &r.meta));
    } else {
        Metrics::add(&metrics.records_fenced, delivery.fenced.len() as u64);
        let mut fenced = delivery.fenced.clone();
        fenced.sort_unstable();
        let kept = (0..batch.len()).filter(|i| fenced.binary_search(i).is_err());
        progress.ack(kept.map(|i| &batch.records[i].meta));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_batches_weigh_their_share_of_a_slot() {
        let c = Concurrency {
            slots: 2,
            full_batch_bytes: 64 << 20,
        };
        assert_eq!(c.permits(), 32);
        assert_eq!(c.weight(64 << 20), 16);
        assert_eq!(c.weight(100 << 20), 16);
        assert_eq!(c.weight(32 << 20), 8);
        assert_eq!(c.weight((32 << 20) + 1), 9);
        assert_eq!(c.weight(10_000), 1);
        assert_eq!(c.weight(0), 1);
    }
}
