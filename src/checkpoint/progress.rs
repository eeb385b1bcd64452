//! The checkpoint tracker's owner: one task holds the [`CheckpointTracker`], and everything
//! that happens to records reaches it as a message — the pipeline registers records and shard
//! ends as they enter, deliveries acknowledge them when they are durable — so no lock is
//! shared. Whoever needs the checkpoints (the checkpoint loop, the shutdown deadline) asks
//! for a [`Snapshot`], which answers after every message sent before the question.

use std::collections::BTreeMap;

use spillway_formats::record::{RecordMeta, ShardId};
use tokio::sync::{mpsc, oneshot};

use super::{Checkpoint, CheckpointTracker};

/// What the tracker says at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Every shard's checkpoint: the records at or below it are acknowledged.
    pub checkpoints: BTreeMap<String, Checkpoint>,
    /// Records registered and not yet acknowledged, over all shards.
    pub unacknowledged: usize,
}

enum Message {
    Register(Vec<RecordMeta>),
    ShardEnd(ShardId),
    /// Positions acknowledged, in runs of one shard.
    Ack(Vec<(ShardId, Vec<u64>)>),
    Snapshot(oneshot::Sender<Snapshot>),
    /// Answer once every record of the shard registered before is acknowledged.
    Drain(ShardId, oneshot::Sender<Option<Checkpoint>>),
    Floor(ShardId, u64),
}

/// A handle to the tracker's task; clones share it. The task ends when every handle is gone.
#[derive(Clone, Debug)]
pub struct Progress {
    tx: mpsc::UnboundedSender<Message>,
}

impl Progress {
    /// Starts the tracker's task (on the current tokio runtime).
    pub fn start() -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut tracker = CheckpointTracker::new();
            let mut drains: Vec<(ShardId, oneshot::Sender<Option<Checkpoint>>)> = Vec::new();
            while let Some(message) = rx.recv().await {
                match message {
                    Message::Drain(shard, reply) => drains.push((shard, reply)),
                    Message::Register(metas) => tracker.register_all(&metas),
                    Message::ShardEnd(shard) => tracker.register_shard_end(&shard),
                    Message::Floor(shard, floor) => tracker.set_floor(&shard, floor),
                    Message::Ack(runs) => runs
                        .iter()
                        .for_each(|(shard, positions)| tracker.ack_run(shard, positions)),
                    Message::Snapshot(reply) => {
                        let _ = reply.send(Snapshot {
                            checkpoints: tracker.details(),
                            unacknowledged: tracker.unacknowledged(),
                        });
                    }
                }
                if !drains.is_empty() {
                    answer_settled(&tracker, &mut drains);
                }
            }
        });
        Progress { tx }
    }

    /// Records entering the pipeline, in source order per shard.
    pub fn register<'a>(&self, metas: impl IntoIterator<Item = &'a RecordMeta>) {
        let metas: Vec<RecordMeta> = metas.into_iter().cloned().collect();
        if !metas.is_empty() {
            let _ = self.tx.send(Message::Register(metas));
        }
    }

    /// The end of a shard, after its last record.
    pub fn shard_end(&self, shard: ShardId) {
        let _ = self.tx.send(Message::ShardEnd(shard));
    }

    /// Records delivered or dead-lettered: durable.
    pub fn ack<'a>(&self, metas: impl IntoIterator<Item = &'a RecordMeta>) {
        let mut runs: Vec<(ShardId, Vec<u64>)> = Vec::new();
        for meta in metas {
            match runs.last_mut() {
                Some((shard, positions)) if *shard == meta.shard => positions.push(meta.position),
                _ => runs.push((meta.shard.clone(), vec![meta.position])),
            }
        }
        if !runs.is_empty() {
            let _ = self.tx.send(Message::Ack(runs));
        }
    }

    /// Answers on `reply`, with the shard's checkpoint, once every record of `shard`
    /// registered before this call is acknowledged (a lease handed over waits for it).
    pub fn drain(&self, shard: ShardId, reply: oneshot::Sender<Option<Checkpoint>>) {
        let _ = self.tx.send(Message::Drain(shard, reply));
    }

    /// The shard's records below `floor` are no longer tracked (a lease lost: `u64::MAX`; taken
    /// back: the first position of the new reading): see [`CheckpointTracker::set_floor`].
    pub fn set_floor(&self, shard: ShardId, floor: u64) {
        let _ = self.tx.send(Message::Floor(shard, floor));
    }

    /// The checkpoints after every message sent before this call.
    pub async fn snapshot(&self) -> Snapshot {
        let (reply, answer) = oneshot::channel();
        let _ = self.tx.send(Message::Snapshot(reply));
        answer.await.unwrap_or_default()
    }
}

/// Answers the drains whose shard has nothing unacknowledged left.
fn answer_settled(
    tracker: &CheckpointTracker,
    drains: &mut Vec<(ShardId, oneshot::Sender<Option<Checkpoint>>)>,
) {
    let mut waiting = Vec::with_capacity(drains.len());
    for (shard, reply) in drains.drain(..) {
        match tracker.settled(&shard) {
            true => {
                let _ = reply.send(tracker.checkpoint(&shard).cloned());
            }
            false => waiting.push((shard, reply)),
        }
    }
    *drains = waiting;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn meta(shard: &ShardId, position: u64) -> RecordMeta {
        RecordMeta {
            shard: shard.clone(),
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms: 0,
            prior_attempts: 0,
        }
    }

    #[tokio::test]
    async fn acknowledgements_in_any_order_move_the_checkpoint_once_every_record_below_is_in() {
        let progress = Progress::start();
        let shard: ShardId = Arc::from("a");
        let records: Vec<RecordMeta> = (1..=3).map(|p| meta(&shard, p * 10)).collect();
        progress.register(&records);
        progress.ack([&records[2], &records[0]]);
        let snapshot = progress.snapshot().await;
        assert_eq!(snapshot.checkpoints["a"].position, 10);
        assert_eq!(snapshot.unacknowledged, 1);
        progress.ack([&records[1]]);
        progress.shard_end(shard.clone());
        let snapshot = progress.snapshot().await;
        assert!(snapshot.checkpoints["a"].is_shard_end());
        assert_eq!(snapshot.unacknowledged, 0);
    }

    #[tokio::test]
    async fn a_drain_answers_once_every_record_of_its_shard_registered_before_is_in() {
        let progress = Progress::start();
        let (a, b): (ShardId, ShardId) = (Arc::from("a"), Arc::from("b"));
        let records = [meta(&a, 1), meta(&a, 2), meta(&b, 1)];
        progress.register(&records);
        let (reply, mut drained) = oneshot::channel();
        progress.drain(a.clone(), reply);
        progress.ack([&records[0], &records[2]]);
        progress.snapshot().await;
        assert!(drained.try_recv().is_err(), "record a/2 is still out");
        progress.ack([&records[1]]);
        progress.snapshot().await;
        let checkpoint = drained.try_recv().unwrap().unwrap();
        assert_eq!(checkpoint.position, 2);
        // A shard with nothing outstanding answers at once.
        let (reply, drained) = oneshot::channel();
        progress.drain(b.clone(), reply);
        assert_eq!(drained.await.unwrap().unwrap().position, 1);
    }
}
