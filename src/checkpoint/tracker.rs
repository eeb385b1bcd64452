//! The checkpoint tracker: records are registered in source order per shard as they enter;
//! acknowledgements arrive in any order (partitions flush independently); a shard's checkpoint
//! advances only to the highest position below which **every** registered record is
//! acknowledged (delivered or dead-lettered). A shard read to its end gets the checkpoint
//! `SHARD_END` once everything before the end is acknowledged. A shard's *floor* (set when its
//! lease is lost, and again when it is taken back) drops what was registered below it and
//! ignores what comes later below it: those records are fenced, never acknowledged, and must
//! not hold the checkpoint up. Pure; no I/O.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use spillway_formats::record::{RecordMeta, ShardId};

/// The sequence number a shard's checkpoint takes once the shard is read to its end and
/// every record of it is acknowledged (the KCL's name).
pub const SHARD_END: &str = "SHARD_END";

/// A shard's checkpoint: every registered record up to `position` is acknowledged; the
/// source's own sequence number (and KPL sub-sequence) of that record, where it has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: u64,
    pub sequence: Option<Arc<str>>,
    pub sub_sequence: Option<u32>,
}

impl Checkpoint {
    pub fn is_shard_end(&self) -> bool {
        self.sequence.as_deref() == Some(SHARD_END)
    }
}

struct Pending {
    checkpoint: Checkpoint,
    acked: bool,
}

#[derive(Default)]
struct ShardProgress {
    /// Registered records not yet below the checkpoint, by ascending position.
    pending: VecDeque<Pending>,
    checkpoint: Option<Checkpoint>,
}

#[derive(Default)]
pub struct CheckpointTracker {
    shards: HashMap<ShardId, ShardProgress>,
    /// Per shard, the lowest position still tracked (see [`CheckpointTracker::set_floor`]).
    floors: HashMap<ShardId, u64>,
}

impl CheckpointTracker {
    pub fn new() -> Self {
        CheckpointTracker::default()
    }

    /// From now on the shard's records below `floor` are not tracked: those registered are
    /// dropped, with the shard's checkpoint (it belonged to a lease given up), and those
    /// registered later are ignored. A lost lease sets `u64::MAX`; a lease taken back sets the
    /// first position of its new reading.
    pub fn set_floor(&mut self, shard: &ShardId, floor: u64) {
        self.floors.insert(shard.clone(), floor);
        if let Some(progress) = self.shards.get_mut(shard) {
            progress.pending.retain(|p| p.checkpoint.position >= floor);
            progress.checkpoint = None;
        }
        self.advance(shard);
    }

    fn below_floor(&self, meta: &RecordMeta) -> bool {
        self.floors
            .get(&meta.shard)
            .is_some_and(|floor| meta.position < *floor)
    }

    /// Registers a record entering the pipeline. Positions must increase per shard.
    pub fn register(&mut self, meta: &RecordMeta) {
        if self.below_floor(meta) {
            return;
        }
        let checkpoint = Checkpoint {
            position: meta.position,
            sequence: meta.sequence_number.clone(),
            sub_sequence: meta.sub_sequence,
        };
        self.push(&meta.shard, checkpoint, false);
    }

    /// Registers the end of a shard, after its last record: once every record before it is
    /// acknowledged, the shard's checkpoint is `SHARD_END`.
    pub fn register_shard_end(&mut self, shard: &ShardId) {
        let progress = self.shards.entry(shard.clone()).or_default();
        let last = progress.pending.back().map(|p| p.checkpoint.position);
        let last = last.or(progress.checkpoint.as_ref().map(|c| c.position));
        let end = Checkpoint {
            position: last.map_or(0, |p| p + 1),
            sequence: Some(Arc::from(SHARD_END)),
            sub_sequence: None,
        };
        self.push(shard, end, true);
        self.advance(shard);
    }

    fn push(&mut self, shard: &ShardId, checkpoint: Checkpoint, acked: bool) {
        let progress = self.shards.entry(shard.clone()).or_default();
        debug_assert!(progress
            .pending
            .back()
            .is_none_or(|p| p.checkpoint.position < checkpoint.position));
        progress.pending.push_back(Pending { checkpoint, acked });
    }

    /// Acknowledges a record: it is delivered or dead-lettered.
    pub fn ack(&mut self, shard: &ShardId, position: u64) {
        self.ack_run(shard, &[position]);
    }

    /// Acknowledges records of one shard: one lookup of the shard for the run, and each
    /// position searched for only past the one before it when they ascend (a batch's do).
    pub fn ack_run(&mut self, shard: &ShardId, positions: &[u64]) {
        let Some(progress) = self.shards.get_mut(shard) else {
            return;
        };
        let pending = &mut progress.pending;
        let mut from = 0;
        let mut previous = None;
        for &position in positions {
            if previous.is_some_and(|p| position <= p) {
                from = 0; // not ascending: search all of it
            }
            previous = Some(position);
            let at = from + partition_point(pending, from, |p| p.checkpoint.position < position);
            if pending
                .get(at)
                .is_some_and(|p| p.checkpoint.position == position)
            {
                pending[at].acked = true;
                from = at + 1;
            }
        }
        self.advance(shard);
    }

    /// Registers records entering the pipeline, in source order per shard: one lookup of the
    /// shard per run of records of the same shard.
    pub fn register_all(&mut self, metas: &[RecordMeta]) {
        for run in metas.chunk_by(|a, b| a.shard == b.shard) {
            if self.floors.contains_key(&run[0].shard) {
                run.iter().for_each(|meta| self.register(meta));
                continue;
            }
            let progress = self.shards.entry(run[0].shard.clone()).or_default();
            progress.pending.extend(run.iter().map(|meta| Pending {
                checkpoint: Checkpoint {
                    position: meta.position,
                    sequence: meta.sequence_number.clone(),
                    sub_sequence: meta.sub_sequence,
                },
                acked: false,
            }));
        }
    }

    fn advance(&mut self, shard: &ShardId) {
        let Some(progress) = self.shards.get_mut(shard) else {
            return;
        };
        while progress.pending.front().is_some_and(|p| p.acked) {
            progress.checkpoint = progress.pending.pop_front().map(|p| p.checkpoint);
        }
    }

    /// Whether every record registered for the shard is acknowledged.
    pub fn settled(&self, shard: &ShardId) -> bool {
        self.shards.get(shard).is_none_or(|p| p.pending.is_empty())
    }

    /// The shard's checkpoint: every registered record at or below it is acknowledged.
    pub fn checkpoint(&self, shard: &ShardId) -> Option<&Checkpoint> {
        self.shards.get(shard).and_then(|p| p.checkpoint.as_ref())
    }

    /// Every shard's checkpoint position.
    pub fn checkpoints(&self) -> BTreeMap<String, u64> {
        self.details()
            .into_iter()
            .map(|(shard, c)| (shard, c.position))
            .collect()
    }

    /// Every shard's checkpoint, with sequence numbers.
    pub fn details(&self) -> BTreeMap<String, Checkpoint> {
        self.shards
            .iter()
            .filter_map(|(shard, p)| p.checkpoint.clone().map(|c| (shard.to_string(), c)))
            .collect()
    }

    /// Records registered and not yet acknowledged, over all shards.
    pub fn unacknowledged(&self) -> usize {
        self.shards
            .values()
            .map(|p| p.pending.iter().filter(|p| !p.acked).count())
            .sum()
    }
}

/// How many of `deque[from..]` satisfy `before` (which holds for a prefix of them).
fn partition_point<T>(deque: &VecDeque<T>, from: usize, before: impl Fn(&T) -> bool) -> usize {
    let (mut low, mut high) = (from, deque.len());
    while low < high {
        let middle = low + (high - low) / 2;
        if before(&deque[middle]) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low - from
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(shard: &ShardId, position: u64) -> RecordMeta {
        RecordMeta {
            shard: shard.clone(),
            position,
            sequence_number: Some(Arc::from(format!("seq-{position}"))),
            sub_sequence: None,
            arrival_ms: 0,
            prior_attempts: 0,
        }
    }

    #[test]
    fn a_floor_drops_a_lost_leases_records_so_the_next_lease_is_not_held_up_by_them() {
        let a: ShardId = Arc::from("a");
        let mut t = CheckpointTracker::new();
        t.register_all(&[meta(&a, 1), meta(&a, 2), meta(&a, 3)]);
        t.ack(&a, 1);
        assert_eq!(t.checkpoint(&a).map(|c| c.position), Some(1));
        // The lease is lost: 2 and 3 are fenced and never acknowledged.
        t.set_floor(&a, u64::MAX);
        assert!(t.settled(&a));
        assert_eq!(
            t.checkpoint(&a),
            None,
            "the lost lease's checkpoint is not written again"
        );
        // Records of the lost reading still in the source channel register later: ignored.
        t.register_all(&[meta(&a, 4)]);
        assert_eq!(t.unacknowledged(), 0);
        // Taken back: the new reading starts at 1 << 40.
        let from = 1 << 40;
        t.set_floor(&a, from);
        t.register_all(&[meta(&a, 5), meta(&a, from), meta(&a, from + 1)]);
        assert_eq!(t.unacknowledged(), 2);
        t.ack(&a, 3); // a late acknowledgement of the lost reading changes nothing
        t.ack(&a, from);
        assert_eq!(t.checkpoint(&a).map(|c| c.position), Some(from));
        t.ack(&a, from + 1);
        assert!(t.settled(&a));
    }

    #[test]
    fn checkpoint_waits_for_every_earlier_record() {
        let a: ShardId = Arc::from("a");
        let b: ShardId = Arc::from("b");
        let mut t = CheckpointTracker::new();
        for p in [10, 20, 30, 40] {
            t.register(&meta(&a, p));
        }
        t.register(&meta(&b, 5));
        // Partitions flush out of order: 30 and 40 first.
        t.ack(&a, 30);
        t.ack(&a, 40);
        assert_eq!(t.checkpoint(&a), None);
        t.ack(&a, 10);
        assert_eq!(t.checkpoint(&a).map(|c| c.position), Some(10));
        assert_eq!(t.unacknowledged(), 2);
        t.ack(&a, 20);
        assert_eq!(t.checkpoint(&a).map(|c| c.position), Some(40));
        assert_eq!(
            t.checkpoint(&a).unwrap().sequence.as_deref(),
            Some("seq-40")
        );
        assert_eq!(t.checkpoint(&b), None);
        t.ack(&b, 5);
        assert_eq!(
            t.checkpoints(),
            BTreeMap::from([("a".into(), 40), ("b".into(), 5)])
        );
        assert_eq!(t.unacknowledged(), 0);
    }

    #[test]
    fn shard_end_becomes_the_checkpoint_only_after_every_record() {
        let a: ShardId = Arc::from("a");
        let mut t = CheckpointTracker::new();
        t.register(&meta(&a, 1));
        t.register(&meta(&a, 2));
        t.register_shard_end(&a);
        t.ack(&a, 2);
        assert!(t.checkpoint(&a).is_none());
        t.ack(&a, 1);
        assert!(t.checkpoint(&a).unwrap().is_shard_end());
        // A shard that ends with nothing pending ends at once.
        let b: ShardId = Arc::from("b");
        t.register_shard_end(&b);
        assert!(t.checkpoint(&b).unwrap().is_shard_end());
    }

    #[test]
    fn runs_register_and_acknowledge_as_single_records_do() {
        let (a, b): (ShardId, ShardId) = (Arc::from("a"), Arc::from("b"));
        let metas: Vec<RecordMeta> = [(&a, 1), (&a, 2), (&b, 1), (&a, 3), (&a, 5), (&b, 2)]
            .into_iter()
            .map(|(s, p)| meta(s, p))
            .collect();
        let mut runs = CheckpointTracker::new();
        runs.register_all(&metas);
        let mut one_by_one = CheckpointTracker::new();
        metas.iter().for_each(|m| one_by_one.register(m));
        // Ascending, descending, unknown and repeated positions.
        let acks: [(&ShardId, &[u64]); 4] = [
            (&a, &[2, 3, 4, 5]),
            (&b, &[2]),
            (&a, &[5, 1, 1]),
            (&b, &[7, 1]),
        ];
        for (shard, positions) in acks {
            runs.ack_run(shard, positions);
            positions.iter().for_each(|p| one_by_one.ack(shard, *p));
            assert_eq!(runs.details(), one_by_one.details());
            assert_eq!(runs.unacknowledged(), one_by_one.unacknowledged());
        }
        assert_eq!(runs.checkpoints()["a"], 5);
        assert_eq!(runs.checkpoints()["b"], 2);
    }

    #[test]
    fn unknown_acks_change_nothing() {
        let a: ShardId = Arc::from("a");
        let mut t = CheckpointTracker::new();
        t.register(&meta(&a, 1));
        t.ack(&a, 2);
        t.ack(&Arc::from("zzz"), 1);
        assert_eq!(t.checkpoint(&a), None);
    }
}
