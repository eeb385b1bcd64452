//! The memory budget (`buffering.memory_budget`), shared by the two stages that hold records:
//! the pipeline reports the bytes its open buffers hold, and the delivery stage reserves room
//! for each batch it starts (its estimate of what encoding it takes) and gives it back when
//! the batch is done. A batch starts only while buffers and batches in flight fit within the
//! budget — or when nothing else is in flight, so delivery always progresses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// One stream's memory budget; clones share it.
#[derive(Clone, Debug)]
pub struct MemoryBudget(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    limit: usize,
    /// What the open partition buffers hold, as the pipeline last reported it.
    buffered: AtomicUsize,
    /// What the batches in flight are reckoned to hold.
    in_flight: AtomicUsize,
    released: Notify,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Self {
        MemoryBudget(Arc::new(Shared {
            limit,
            buffered: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            released: Notify::new(),
        }))
    }

    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// The pipeline's buffers now hold `bytes`.
    pub fn set_buffered(&self, bytes: usize) {
        self.0.buffered.store(bytes, Ordering::Release);
    }

    pub fn buffered(&self) -> usize {
        self.0.buffered.load(Ordering::Acquire)
    }

    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::Acquire)
    }

    /// Waits until `bytes` more fit beside the buffers and what is in flight (or nothing is
    /// in flight), then holds them until the returned reservation is dropped.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let shared = &self.0;
        loop {
            let released = shared.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let in_flight = shared.in_flight.load(Ordering::Acquire);
            if in_flight == 0 || in_flight + bytes + self.buffered() <= shared.limit {
                shared.in_flight.fetch_add(bytes, Ordering::AcqRel);
                return Reservation {
                    budget: self.clone(),
                    bytes,
                };
            }
            released.await;
        }
    }
}

/// Room held in a [`MemoryBudget`] for one batch in flight; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let shared = &self.budget.0;
        shared.in_flight.fetch_sub(self.bytes, Ordering::AcqRel);
        shared.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_waits_until_buffers_and_batches_in_flight_leave_room() {
        let budget = MemoryBudget::new(100);
        budget.set_buffered(30);
        let first = budget.reserve(40).await;
        assert_eq!(budget.in_flight(), 40);
        // 40 in flight + 40 + 30 buffered > 100: waits for the first to be done.
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(40).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(budget.in_flight(), 40);
        drop(second);
        assert_eq!(budget.in_flight(), 0);
    }

    #[tokio::test]
    async fn with_nothing_in_flight_a_batch_starts_even_above_the_budget() {
        let budget = MemoryBudget::new(10);
        budget.set_buffered(50);
        let big = budget.reserve(1000).await;
        assert_eq!(budget.in_flight(), 1000);
        drop(big);
    }
}
