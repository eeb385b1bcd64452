//! Exactly-once batching (`exactly_once = true`): buffers are per shard *segment* instead of
//! per partition key alone. A segment is a run of one shard's records; all of its partition
//! buffers close together, and every object made from it is named from the segment (shard,
//! first and last stable position), so a re-read of the shard after a crash rebuilds the same
//! objects under the same keys, which a conditional create then skips.
//!
//! Size is deterministic from a segment's first record, but age, the memory budget and the
//! open-partition cap are not; so every boundary is written to the segment log before its
//! objects are (the pipeline does that for each [`ClosedSegment::newly_decided`]), and a
//! re-read follows the logged boundaries (`plan`) instead of deciding again. A logged segment
//! can only close at its logged end; one still incomplete at shutdown is dropped unacknowledged
//! and rebuilt by the next run. Pure: `now` is passed in, no I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use spillway_formats::record::{Batch, PartitionKey, RecordMeta, Segment, ShardId, StablePosition};

use super::{FlushPolicy, FlushReason};

/// A segment whose buffers all closed: one batch per partition key.
pub struct ClosedSegment {
    pub segment: Arc<Segment>,
    pub batches: Vec<Batch>,
    pub reason: FlushReason,
    /// Decided in this run: the segment log must hold it before any of its objects is written.
    pub newly_decided: bool,
}

struct OpenSegment {
    first: StablePosition,
    last: StablePosition,
    first_arrival_ms: i64,
    /// The logged end, when this segment is being rebuilt.
    planned_last: Option<StablePosition>,
    opened_at_ms: u64,
    bytes: usize,
    buffers: BTreeMap<PartitionKey, Batch>,
}

#[derive(Default)]
struct ShardSegments {
    /// Logged segments this run has not reached yet, oldest first.
    planned: VecDeque<Segment>,
    open: Option<OpenSegment>,
    /// What the segment log must hold: every logged segment not yet below the checkpoint.
    log: Vec<Segment>,
}

pub struct SegmentBatcher {
    policy: FlushPolicy,
    shards: HashMap<ShardId, ShardSegments>,
    buffered_bytes: usize,
}

impl SegmentBatcher {
    pub fn new(policy: FlushPolicy) -> Self {
        SegmentBatcher {
            policy,
            shards: HashMap::new(),
            buffered_bytes: 0,
        }
    }

    /// Whether the shard's logged segments were handed over with [`SegmentBatcher::plan`].
    pub fn knows(&self, shard: &ShardId) -> bool {
        self.shards.contains_key(shard)
    }

    /// Hands over the segments an earlier run logged for `shard` (any order).
    pub fn plan(&mut self, shard: &ShardId, mut logged: Vec<Segment>) {
        logged.sort_by(|a, b| a.first.cmp(&b.first));
        let segments = self.shards.entry(shard.clone()).or_default();
        segments.planned = logged.iter().cloned().collect();
        segments.log = logged;
    }

    /// Forgets `shard` (its lease is lost): drops its open segment's records, unacknowledged,
    /// and its plan, so a later reading under a new lease loads the log afresh. Returns how
    /// many records were dropped.
    pub fn forget(&mut self, shard: &ShardId) -> usize {
        let Some(segments) = self.shards.remove(shard) else {
            return 0;
        };
        let Some(open) = segments.open else {
            return 0;
        };
        self.buffered_bytes -= open.bytes;
        open.buffers.values().map(Batch::len).sum()
    }

    /// The segments the log must hold for `shard`, dropping those wholly at or below
    /// `checkpoint` (`None`: nothing checkpointed yet).
    pub fn live_segments(
        &mut self,
        shard: &ShardId,
        checkpoint: Option<&StablePosition>,
    ) -> Vec<Segment> {
        let Some(segments) = self.shards.get_mut(shard) else {
            return Vec::new();
        };
        if let Some(checkpoint) = checkpoint {
            segments.log.retain(|s| s.last > *checkpoint);
        }
        segments.log.clone()
    }

    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    pub fn open_partitions(&self) -> usize {
        self.open_segments().map(|(_, o)| o.buffers.len()).sum()
    }

    /// Adds a record; returns the segments this closed.
    pub fn push(
        &mut self,
        key: &PartitionKey,
        data: &[u8],
        meta: RecordMeta,
        now_ms: u64,
    ) -> Vec<ClosedSegment> {
        let mut closed = Vec::new();
        let position = meta.stable_position();
        let shard_id = meta.shard.clone();
        let segments = self.shards.entry(shard_id.clone()).or_default();
        // The record is past the open segment's logged end, or reaches a logged segment while
        // an unlogged one is open: the open one is complete.
        let next_planned = segments.planned.front().map(|s| &s.first);
        let passes = segments
            .open
            .as_ref()
            .is_some_and(|open| match &open.planned_last {
                Some(last) => position > *last,
                None => next_planned.is_some_and(|first| position >= *first),
            });
        if passes {
            closed.extend(self.close(&shard_id, FlushReason::Planned));
        }
        let segments = self.shards.entry(shard_id.clone()).or_default();
        let open = segments.open.get_or_insert_with(|| {
            // Logged segments wholly behind this record are below the checkpoint already.
            while segments.planned.front().is_some_and(|s| s.last < position) {
                segments.planned.pop_front();
            }
            let planned = segments
                .planned
                .front()
                .is_some_and(|s| s.first <= position)
                .then(|| segments.planned.pop_front())
                .flatten();
            OpenSegment {
                first: planned
                    .as_ref()
                    .map_or(position.clone(), |s| s.first.clone()),
                last: position.clone(),
                first_arrival_ms: planned
                    .as_ref()
                    .map_or(meta.arrival_ms, |s| s.first_arrival_ms),
                planned_last: planned.map(|s| s.last),
                opened_at_ms: now_ms,
                bytes: 0,
                buffers: BTreeMap::new(),
            }
        });
        open.last = position.clone();
        open.bytes += data.len();
        open.buffers
            .entry(key.clone())
            .or_insert_with(|| Batch::new(key.clone()))
            .push(data, meta);
        self.buffered_bytes += data.len();
        let reason = match &open.planned_last {
            Some(last) => (position >= *last).then_some(FlushReason::Planned),
            None => (open.bytes >= self.policy.max_bytes).then_some(FlushReason::Size),
        };
        if let Some(reason) = reason {
            closed.extend(self.close(&shard_id, reason));
        }
        while self.buffered_bytes > self.policy.memory_budget {
            let Some(largest) = self.pick_unplanned(|o| (o.bytes, u64::MAX - o.opened_at_ms))
            else {
                break;
            };
            closed.extend(self.close(&largest, FlushReason::MemoryBudget));
        }
        while self.open_partitions() > self.policy.max_open_partitions {
            let Some(oldest) = self.pick_unplanned(|o| (u64::MAX - o.opened_at_ms, o.bytes)) else {
                break;
            };
            closed.extend(self.close(&oldest, FlushReason::OpenPartitions));
        }
        closed
    }

    /// Closes every segment decided in this run whose age reached the interval.
    pub fn poll_expired(&mut self, now_ms: u64) -> Vec<ClosedSegment> {
        let max_age = self.policy.max_age.as_millis() as u64;
        let mut expired: Vec<(u64, ShardId)> = self
            .open_segments()
            .filter(|(_, o)| o.planned_last.is_none())
            .filter(|(_, o)| now_ms.saturating_sub(o.opened_at_ms) >= max_age)
            .map(|(shard, o)| (o.opened_at_ms, shard.clone()))
            .collect();
        expired.sort();
        expired
            .into_iter()
            .filter_map(|(_, shard)| self.close(&shard, FlushReason::Age))
            .collect()
    }

    /// Shutdown: closes the segments decided in this run; drops logged ones still incomplete
    /// (their records stay unacknowledged, so the next run rebuilds them). Returns the closed
    /// segments and how many records were dropped.
    pub fn drain(&mut self) -> (Vec<ClosedSegment>, usize) {
        let mut shards: Vec<(u64, ShardId)> = self
            .open_segments()
            .map(|(shard, o)| (o.opened_at_ms, shard.clone()))
            .collect();
        shards.sort();
        let mut closed = Vec::new();
        let mut dropped = 0;
        for (_, shard) in shards {
            if let Some(segment) = self.close(&shard, FlushReason::Shutdown) {
                if segment.newly_decided {
                    closed.push(segment);
                } else {
                    dropped += segment.batches.iter().map(Batch::len).sum::<usize>();
                }
            }
        }
        (closed, dropped)
    }

    /// The earliest time a segment decided in this run will expire, if any is open.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        let max_age = self.policy.max_age.as_millis() as u64;
        self.open_segments()
            .filter(|(_, o)| o.planned_last.is_none())
            .map(|(_, o)| o.opened_at_ms + max_age)
            .min()
    }

    fn open_segments(&self) -> impl Iterator<Item = (&ShardId, &OpenSegment)> {
        self.shards
            .iter()
            .filter_map(|(shard, s)| s.open.as_ref().map(|o| (shard, o)))
    }

    /// The shard whose open, unlogged segment has the greatest `rank`.
    fn pick_unplanned<R: Ord>(&self, rank: impl Fn(&OpenSegment) -> R) -> Option<ShardId> {
        self.open_segments()
            .filter(|(_, o)| o.planned_last.is_none())
            .max_by(|a, b| rank(a.1).cmp(&rank(b.1)).then_with(|| b.0.cmp(a.0)))
            .map(|(shard, _)| shard.clone())
    }

    fn close(&mut self, shard: &ShardId, reason: FlushReason) -> Option<ClosedSegment> {
        let segments = self.shards.get_mut(shard)?;
        let open = segments.open.take()?;
        self.buffered_bytes -= open.bytes;
        let newly_decided = open.planned_last.is_none();
        let segment = Arc::new(Segment {
            shard: shard.to_string(),
            first: open.first,
            last: open.planned_last.unwrap_or(open.last),
            first_arrival_ms: open.first_arrival_ms,
        });
        if newly_decided {
            segments.log.push((*segment).clone());
        }
        let batches = open
            .buffers
            .into_values()
            .map(|mut batch| {
                batch.segment = Some(segment.clone());
                batch
            })
            .collect();
        Some(ClosedSegment {
            segment,
            batches,
            reason,
            newly_decided,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::pipeline::test_records::{key, meta};

    fn policy() -> FlushPolicy {
        FlushPolicy {
            max_bytes: 100,
            max_age: Duration::from_secs(60),
            memory_budget: 1000,
            max_open_partitions: 10,
        }
    }

    fn at(position: u64) -> StablePosition {
        meta("s", position).stable_position()
    }

    /// Pushes records `positions` of shard "s", 10 bytes each, alternating keys a and b.
    fn feed(b: &mut SegmentBatcher, positions: impl Iterator<Item = u64>) -> Vec<ClosedSegment> {
        let mut closed = Vec::new();
        for p in positions {
            let k = if p % 2 == 0 { "a" } else { "b" };
            closed.extend(b.push(&key(k), &[b'x'; 10], meta("s", p), p));
        }
        closed
    }

    fn bounds(closed: &[ClosedSegment]) -> Vec<(u64, u64)> {
        closed
            .iter()
            .map(|c| {
                let n = |p: &StablePosition| p.sequence.parse::<u64>().unwrap();
                (n(&c.segment.first), n(&c.segment.last))
            })
            .collect()
    }

    #[test]
    fn a_segment_closes_all_its_partitions_together_at_the_size_hint() {
        let mut b = SegmentBatcher::new(policy());
        let closed = feed(&mut b, 1..=25);
        assert_eq!(bounds(&closed), vec![(1, 10), (11, 20)]);
        assert_eq!(closed[0].batches.len(), 2);
        assert!(closed[0].newly_decided);
        assert_eq!(closed[0].reason, FlushReason::Size);
        let segment = closed[0].batches[0].segment.as_deref().unwrap();
        assert_eq!(segment.first_arrival_ms, 1001);
        assert_eq!(b.buffered_bytes(), 50);
        assert_eq!(b.open_partitions(), 2);
    }

    #[test]
    fn a_re_read_from_mid_segment_follows_the_logged_boundaries() {
        // First run: one segment closed by age at 1..=4, then size at 5..=14.
        let mut first = SegmentBatcher::new(policy());
        feed(&mut first, 1..=4);
        let mut logged = bounds(&first.poll_expired(60_001));
        logged.extend(bounds(&feed(&mut first, 5..=14)));
        assert_eq!(logged, vec![(1, 4), (5, 14)]);
        let log = first.live_segments(&Arc::from("s"), None);

        // The rerun reads from 3 (1 and 2 were checkpointed) and reaches the same ends.
        let mut rerun = SegmentBatcher::new(policy());
        rerun.plan(&Arc::from("s"), log.clone());
        let closed = feed(&mut rerun, 3..=20);
        assert_eq!(bounds(&closed), vec![(1, 4), (5, 14)]);
        assert!(closed.iter().all(|c| !c.newly_decided));
        assert_eq!(closed[0].segment.first_arrival_ms, 1001);
        // Age does not close a logged segment; after the log, deciding resumes.
        let mut rerun = SegmentBatcher::new(policy());
        rerun.plan(&Arc::from("s"), log);
        feed(&mut rerun, 6..=8);
        assert!(rerun.poll_expired(1_000_000).is_empty());
        let closed = feed(&mut rerun, 9..=30);
        assert_eq!(bounds(&closed), vec![(5, 14), (15, 24)]);
        assert!(closed[1].newly_decided);
    }

    #[test]
    fn a_logged_segment_closes_when_a_record_passes_its_end() {
        let mut b = SegmentBatcher::new(policy());
        let segment = |first, last| Segment {
            shard: "s".into(),
            first: at(first),
            last: at(last),
            first_arrival_ms: 7,
        };
        b.plan(&Arc::from("s"), vec![segment(10, 20), segment(1, 5)]);
        // 5 was never pushed (say it is gone): 6 passes the end of 1..=5.
        let closed = feed(&mut b, [3, 4, 6].into_iter());
        assert_eq!(bounds(&closed), vec![(1, 5)]);
        // Positions between logged segments form a segment that ends before the next one.
        let closed = feed(&mut b, [8, 9, 10].into_iter());
        assert_eq!(bounds(&closed), vec![(6, 9)]);
        assert!(closed[0].newly_decided);
    }

    #[test]
    fn shutdown_drops_an_incomplete_logged_segment_and_closes_new_ones() {
        let mut b = SegmentBatcher::new(policy());
        b.plan(
            &Arc::from("s"),
            vec![Segment {
                shard: "s".into(),
                first: at(1),
                last: at(9),
                first_arrival_ms: 0,
            }],
        );
        feed(&mut b, 1..=4);
        b.push(&key("a"), b"x", meta("t", 1), 0);
        let (closed, dropped) = b.drain();
        assert_eq!(dropped, 4);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].segment.shard, "t");
        assert_eq!(b.buffered_bytes(), 0);
    }

    #[test]
    fn the_log_keeps_segments_until_the_checkpoint_passes_them() {
        let mut b = SegmentBatcher::new(policy());
        feed(&mut b, 1..=30);
        let shard: ShardId = Arc::from("s");
        assert_eq!(b.live_segments(&shard, None).len(), 3);
        assert_eq!(b.live_segments(&shard, Some(&at(10))).len(), 2);
        assert_eq!(b.live_segments(&shard, Some(&at(29))).len(), 1);
        assert!(b.live_segments(&shard, Some(&at(30))).is_empty());
    }

    #[test]
    fn the_memory_budget_closes_the_largest_new_segment() {
        let mut b = SegmentBatcher::new(FlushPolicy {
            memory_budget: 45,
            max_bytes: 1000,
            ..policy()
        });
        b.push(&key("a"), &[b'x'; 30], meta("s", 1), 0);
        let closed = b.push(&key("a"), &[b'x'; 20], meta("t", 1), 1);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].segment.shard, "s");
        assert_eq!(closed[0].reason, FlushReason::MemoryBudget);
    }
}
