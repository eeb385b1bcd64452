//! The checkpoint tracker: records are registered in source order per shard as they enter;
//! acknowledgements arrive in any order (partitions flush independently); a shard's checkpoint
//! advances only to the highest position below which **every** registered record is
//! acknowledged (delivered or dead-lettered). Pure; no I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};

use spillway_formats::record::ShardId;

#[derive(Default)]
struct ShardProgress {
    /// Registered positions not yet below the checkpoint, ascending, with their ack flag.
    pending: VecDeque<(u64, bool)>,
    checkpoint: Option<u64>,
}

#[derive(Default)]
pub struct CheckpointTracker {
    shards: HashMap<ShardId, ShardProgress>,
}

impl CheckpointTracker {
    pub fn new() -> Self {
        CheckpointTracker::default()
    }

    /// Registers a record entering the pipeline. Positions must increase per shard.
    pub fn register(&mut self, shard: &ShardId, position: u64) {
        let progress = self.shards.entry(shard.clone()).or_default();
        debug_assert!(progress
            .pending
            .back()
            .is_none_or(|(last, _)| *last < position));
        progress.pending.push_back((position, false));
    }

    /// Acknowledges a record: it is delivered or dead-lettered.
    pub fn ack(&mut self, shard: &ShardId, position: u64) {
        let Some(progress) = self.shards.get_mut(shard) else {
            return;
        };
        if let Ok(i) = progress
            .pending
            .binary_search_by_key(&position, |(p, _)| *p)
        {
            progress.pending[i].1 = true;
        }
        while let Some(&(position, true)) = progress.pending.front() {
            progress.checkpoint = Some(position);
            progress.pending.pop_front();
        }
    }

    /// The shard's checkpoint: every registered record at or below it is acknowledged.
    pub fn checkpoint(&self, shard: &ShardId) -> Option<u64> {
        self.shards.get(shard).and_then(|p| p.checkpoint)
    }

    /// Every shard's checkpoint.
    pub fn checkpoints(&self) -> BTreeMap<String, u64> {
        self.shards
            .iter()
            .filter_map(|(shard, p)| p.checkpoint.map(|c| (shard.to_string(), c)))
            .collect()
    }

    /// Records registered and not yet acknowledged, over all shards.
    pub fn unacknowledged(&self) -> usize {
        self.shards
            .values()
            .map(|p| p.pending.iter().filter(|(_, acked)| !acked).count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn checkpoint_waits_for_every_earlier_record() {
        let a: ShardId = Arc::from("a");
        let b: ShardId = Arc::from("b");
        let mut t = CheckpointTracker::new();
        for p in [10, 20, 30, 40] {
            t.register(&a, p);
        }
        t.register(&b, 5);
        // Partitions flush out of order: 30 and 40 first.
        t.ack(&a, 30);
        t.ack(&a, 40);
        assert_eq!(t.checkpoint(&a), None);
        t.ack(&a, 10);
        assert_eq!(t.checkpoint(&a), Some(10));
        assert_eq!(t.unacknowledged(), 2);
        t.ack(&a, 20);
        assert_eq!(t.checkpoint(&a), Some(40));
        assert_eq!(t.checkpoint(&b), None);
        t.ack(&b, 5);
        assert_eq!(
            t.checkpoints(),
            BTreeMap::from([("a".into(), 40), ("b".into(), 5)])
        );
        assert_eq!(t.unacknowledged(), 0);
    }

    #[test]
    fn unknown_acks_change_nothing() {
        let a: ShardId = Arc::from("a");
        let mut t = CheckpointTracker::new();
        t.register(&a, 1);
        t.ack(&a, 2);
        t.ack(&Arc::from("zzz"), 1);
        assert_eq!(t.checkpoint(&a), None);
    }
}
