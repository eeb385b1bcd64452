//! The delivery stage: runs closed batches through the retrying sink with bounded
//! concurrency and memory (waiting for a free slot, or for memory, is the back-pressure that
//! stops intake), writes the source-record backup beside it when enabled, sends what failed
//! to the dead letter (both retried until durable), and only then acknowledges every record
//! of the batch to the checkpoint tracker.
//!
//! Memory: the buffering budget (`memory_budget`) covers the batches being encoded too. A
//! batch in flight is reckoned at [`ENCODE_MEMORY_FACTOR`] × its incoming bytes (its records,
//! the Arrow columns built from them, the encoder's pages and the upload buffer), and a batch
//! is started only while buffers plus deliveries in flight stay within the budget — or when
//! nothing else is in flight, so delivery always progresses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use spillway_formats::record::{Batch, FailedRecord};
use spillway_sinks::backup::{self, SourceBackup};
use spillway_sinks::dead_letter::{write_durably, DeadLetter};
use spillway_sinks::retry::RetryingSink;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::checkpoint::CheckpointTracker;
use crate::metrics::Metrics;

/// What a batch in flight holds, in multiples of its incoming bytes: the records, their Arrow
/// columns, the encoded pages and the upload buffer. Measured: a 64 MiB Parquet flush peaks
/// near 180 MiB of RSS in `cargo bench --bench convert` (S1/S2).
pub const ENCODE_MEMORY_FACTOR: usize = 3;

/// The memory held by deliveries in flight, and a wake-up for those waiting for some.
#[derive(Default)]
struct InFlightMemory {
    bytes: AtomicUsize,
    released: Notify,
}

impl InFlightMemory {
    /// Waits until `bytes` more fit beside `buffered` within `budget` (or nothing is in
    /// flight), then reserves them; [`InFlightMemory::release`] gives them back.
    async fn reserve(&self, bytes: usize, buffered: usize, budget: usize) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let in_flight = self.bytes.load(Ordering::Acquire);
            if in_flight == 0 || in_flight + bytes + buffered <= budget {
                self.bytes.fetch_add(bytes, Ordering::AcqRel);
                return;
            }
            released.await;
        }
    }

    fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::AcqRel);
        self.released.notify_waiters();
    }

    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }
}

pub struct Deliverer {
    sink: Arc<RetryingSink>,
    dead_letter: Arc<dyn DeadLetter>,
    backup: Option<Arc<SourceBackup>>,
    tracker: Arc<Mutex<CheckpointTracker>>,
    metrics: Arc<Metrics>,
    slots: Arc<Semaphore>,
    memory: Arc<InFlightMemory>,
    memory_budget: usize,
    in_flight: JoinSet<()>,
}

impl Deliverer {
    pub fn new(
        sink: Arc<RetryingSink>,
        dead_letter: Arc<dyn DeadLetter>,
        backup: Option<Arc<SourceBackup>>,
        tracker: Arc<Mutex<CheckpointTracker>>,
        metrics: Arc<Metrics>,
        concurrency: usize,
        memory_budget: usize,
    ) -> Self {
        Deliverer {
            sink,
            dead_letter,
            backup,
            tracker,
            metrics,
            slots: Arc::new(Semaphore::new(concurrency)),
            memory: Arc::default(),
            memory_budget,
            in_flight: JoinSet::new(),
        }
    }

    /// Starts delivering `batch`, after waiting for a free slot and for memory.
    pub async fn dispatch(&mut self, batch: Batch) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let estimate = batch.incoming_bytes() * ENCODE_MEMORY_FACTOR;
        let buffered = Metrics::get(&self.metrics.buffered_bytes) as usize;
        let memory = self.memory.clone();
        memory.reserve(estimate, buffered, self.memory_budget).await;
        let (sink, dead_letter) = (self.sink.clone(), self.dead_letter.clone());
        let (tracker, metrics, backup) = (
            self.tracker.clone(),
            self.metrics.clone(),
            self.backup.clone(),
        );
        self.in_flight.spawn(async move {
            deliver_batch(
                sink,
                dead_letter,
                backup,
                &tracker,
                &metrics,
                Arc::new(batch),
            )
            .await;
            memory.release(estimate);
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
        let (tracker, metrics) = (self.tracker.clone(), self.metrics.clone());
        self.in_flight.spawn(async move {
            dead_letter_and_ack(&dead_letter, &tracker, &metrics, &failed).await;
            drop(slot);
        });
        self.reap();
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
    tracker: &Mutex<CheckpointTracker>,
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
    let mut tracker = tracker.lock().unwrap_or_else(|p| p.into_inner());
    for record in &batch.records {
        tracker.ack(&record.meta.shard, record.meta.position);
    }
}

async fn dead_letter_and_ack(
    dead_letter: &Arc<dyn DeadLetter>,
    tracker: &Mutex<CheckpointTracker>,
    metrics: &Metrics,
    failed: &[FailedRecord],
) {
    write_durably(dead_letter, failed).await;
    Metrics::add(&metrics.dead_lettered_records, failed.len() as u64);
    let mut tracker = tracker.lock().unwrap_or_else(|p| p.into_inner());
    for record in failed {
        tracker.ack(&record.meta.shard, record.meta.position);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_batch_waits_for_memory_until_one_in_flight_is_released() {
        let memory = Arc::new(InFlightMemory::default());
        // Nothing in flight: even a batch over the budget starts.
        memory.reserve(300, 0, 100).await;
        let waiting = {
            let memory = memory.clone();
            tokio::spawn(async move { memory.reserve(40, 20, 100).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "300 + 40 + 20 > 100: it waits");
        memory.release(300);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken by the release")
            .unwrap();
        assert_eq!(memory.in_flight(), 40);
        // 40 in flight + 30 + 20 buffered fit in 100: no wait.
        tokio::time::timeout(Duration::from_millis(100), memory.reserve(30, 20, 100))
            .await
            .unwrap();
    }
}
