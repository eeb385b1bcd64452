//! The batcher: one open buffer per partition key, closed into a [`Batch`] by the flush
//! policy — size, age, the global memory budget, or the cap on open partitions, whichever
//! comes first (which buffers the last two close: [`super::eviction`]). Pure: time comes in
//! as `now` (ms on a monotonic clock), no I/O.

use std::collections::HashMap;
use std::time::Duration;

use spillway_formats::record::{Batch, PartitionKey, RecordMeta};

use super::eviction::{self, BufferStats, Limits, Pressure};

/// When buffers close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Close a buffer at this many incoming bytes (Firehose's size hint).
    pub max_bytes: usize,
    /// Close a buffer this long after its first record (Firehose's interval hint).
    pub max_age: Duration,
    /// All open buffers together; above it some close early ([`eviction::choose`]).
    pub memory_budget: usize,
    /// Open buffers at most; above it some close early ([`eviction::choose`]).
    pub max_open_partitions: usize,
}

/// Why a batch was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlushReason {
    Size,
    Age,
    MemoryBudget,
    OpenPartitions,
    Shutdown,
    /// A segment reached the end an earlier run logged for it (`exactly_once`).
    Planned,
}

struct OpenBuffer {
    batch: Batch,
    opened_at_ms: u64,
    last_write_ms: u64,
    bytes: usize,
}

/// Open buffers by partition key.
pub struct Batcher {
    policy: FlushPolicy,
    open: HashMap<PartitionKey, OpenBuffer>,
    buffered_bytes: usize,
}

impl Batcher {
    pub fn new(policy: FlushPolicy) -> Self {
        Batcher {
            policy,
            open: HashMap::new(),
            buffered_bytes: 0,
        }
    }

    pub fn policy(&self) -> &FlushPolicy {
        &self.policy
    }

    /// Incoming bytes held in open buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    pub fn open_partitions(&self) -> usize {
        self.open.len()
    }

    /// Adds a record; returns the batches this closed.
    pub fn push(
        &mut self,
        key: &PartitionKey,
        data: &[u8],
        meta: RecordMeta,
        now_ms: u64,
    ) -> Vec<(Batch, FlushReason)> {
        let mut closed = Vec::new();
        let buffer = match self.open.get_mut(key) {
            Some(buffer) => buffer,
            None => self.open.entry(key.clone()).or_insert_with(|| OpenBuffer {
                batch: Batch::new(key.clone()),
                opened_at_ms: now_ms,
                last_write_ms: now_ms,
                bytes: 0,
            }),
        };
        buffer.batch.push(data, meta);
        buffer.bytes += data.len();
        buffer.last_write_ms = now_ms;
        self.buffered_bytes += data.len();
        if buffer.bytes >= self.policy.max_bytes {
            closed.push((self.close(key), FlushReason::Size));
        }
        if self.buffered_bytes > self.policy.memory_budget
            || self.open.len() > self.policy.max_open_partitions
        {
            closed.extend(self.close_early(now_ms));
        }
        closed
    }

    /// Closes the buffers the eviction rule picks to bring both limits back.
    fn close_early(&mut self, now_ms: u64) -> Vec<(Batch, FlushReason)> {
        let (keys, stats): (Vec<&PartitionKey>, Vec<BufferStats>) = self
            .open
            .iter()
            .map(|(key, b)| {
                let stats = BufferStats {
                    bytes: b.bytes,
                    opened_at_ms: b.opened_at_ms,
                    last_write_ms: b.last_write_ms,
                };
                (key, stats)
            })
            .unzip();
        let limits = Limits {
            memory_budget: self.policy.memory_budget,
            max_open: self.policy.max_open_partitions,
        };
        let chosen: Vec<(PartitionKey, FlushReason)> = eviction::choose(&stats, limits, now_ms)
            .into_iter()
            .map(|(i, pressure)| {
                let reason = match pressure {
                    Pressure::Memory => FlushReason::MemoryBudget,
                    Pressure::OpenPartitions => FlushReason::OpenPartitions,
                };
                (keys[i].clone(), reason)
            })
            .collect();
        chosen
            .into_iter()
            .map(|(key, reason)| (self.close(&key), reason))
            .collect()
    }

    /// Closes every buffer whose age reached the interval.
    pub fn poll_expired(&mut self, now_ms: u64) -> Vec<(Batch, FlushReason)> {
        let max_age = self.policy.max_age.as_millis() as u64;
        let mut expired: Vec<(u64, PartitionKey)> = self
            .open
            .iter()
            .filter(|(_, b)| now_ms.saturating_sub(b.opened_at_ms) >= max_age)
            .map(|(k, b)| (b.opened_at_ms, k.clone()))
            .collect();
        expired.sort();
        expired
            .into_iter()
            .map(|(_, key)| (self.close(&key), FlushReason::Age))
            .collect()
    }

    /// Closes every buffer (shutdown), oldest first.
    pub fn drain(&mut self) -> Vec<(Batch, FlushReason)> {
        let mut keys: Vec<(u64, PartitionKey)> = self
            .open
            .iter()
            .map(|(k, b)| (b.opened_at_ms, k.clone()))
            .collect();
        keys.sort();
        keys.into_iter()
            .map(|(_, key)| (self.close(&key), FlushReason::Shutdown))
            .collect()
    }

    /// The earliest time a buffer will expire, if any is open.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        let max_age = self.policy.max_age.as_millis() as u64;
        self.open.values().map(|b| b.opened_at_ms + max_age).min()
    }

    fn close(&mut self, key: &PartitionKey) -> Batch {
        match self.open.remove(key) {
            Some(buffer) => {
                self.buffered_bytes -= buffer.bytes;
                buffer.batch
            }
            None => Batch::new(key.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::test_records::{key, meta};

    fn policy() -> FlushPolicy {
        FlushPolicy {
            max_bytes: 100,
            max_age: Duration::from_secs(60),
            memory_budget: 250,
            max_open_partitions: 3,
        }
    }

    #[test]
    fn size_trigger_closes_a_buffer_at_the_size_hint() {
        let mut b = Batcher::new(policy());
        assert!(b.push(&key("a"), &[b'x'; 60], meta("s", 1), 0).is_empty());
        let closed = b.push(&key("a"), &[b'x'; 40], meta("s", 2), 1);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].1, FlushReason::Size);
        assert_eq!(closed[0].0.len(), 2);
        assert_eq!(closed[0].0.incoming_bytes(), 100);
        assert_eq!(b.buffered_bytes(), 0);
        assert_eq!(b.open_partitions(), 0);
    }

    #[test]
    fn age_trigger_closes_buffers_at_the_interval_not_before() {
        let mut b = Batcher::new(policy());
        b.push(&key("a"), b"1", meta("s", 1), 1_000);
        b.push(&key("b"), b"2", meta("s", 2), 30_000);
        assert_eq!(b.next_expiry_ms(), Some(61_000));
        assert!(b.poll_expired(60_999).is_empty());
        let closed = b.poll_expired(61_000);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0.key, key("a"));
        assert_eq!(closed[0].1, FlushReason::Age);
        // A record arriving later does not extend the first record's deadline.
        b.push(&key("b"), b"3", meta("s", 3), 89_000);
        assert_eq!(b.poll_expired(90_000)[0].0.len(), 2);
    }

    #[test]
    fn zero_interval_flushes_at_every_poll() {
        let mut b = Batcher::new(FlushPolicy {
            max_age: Duration::ZERO,
            ..policy()
        });
        b.push(&key("a"), b"1", meta("s", 1), 5);
        assert_eq!(b.poll_expired(5).len(), 1);
    }

    #[test]
    fn memory_budget_closes_big_old_buffers_first() {
        let mut b = Batcher::new(policy());
        b.push(&key("a"), &[b'x'; 90], meta("s", 1), 0);
        b.push(&key("b"), &[b'x'; 50], meta("s", 2), 1);
        b.push(&key("c"), &[b'x'; 80], meta("s", 3), 2);
        let closed = b.push(&key("b"), &[b'x'; 40], meta("s", 4), 3);
        // 260 > 250: by bytes × age at 3 ms, a (90 × 4) before b (90 × 3) and c (80 × 2);
        // closing a brings the total below the low-water mark (243).
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0.key, key("a"));
        assert_eq!(closed[0].1, FlushReason::MemoryBudget);
        assert_eq!(b.buffered_bytes(), 170);
    }

    #[test]
    fn open_partition_cap_closes_the_least_recently_written() {
        let mut b = Batcher::new(policy());
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            assert!(b
                .push(&key(k), b"1", meta("s", i as u64), i as u64)
                .is_empty());
        }
        // a, the oldest, was written again: b is now the idlest.
        assert!(b.push(&key("a"), b"2", meta("s", 5), 5).is_empty());
        let closed = b.push(&key("d"), b"1", meta("s", 9), 9);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].0.key, key("b"));
        assert_eq!(closed[0].1, FlushReason::OpenPartitions);
        let drained: Vec<PartitionKey> =
            b.drain().into_iter().map(|(batch, _)| batch.key).collect();
        assert_eq!(drained, vec![key("a"), key("c"), key("d")]);
    }
}
