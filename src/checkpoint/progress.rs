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
            while let Some(message) = rx.recv().await {
                match message {
                    Message::Register(metas) => tracker.register_all(&metas),
                    Message::ShardEnd(shard) => tracker.register_shard_end(&shard),
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

    /// The checkpoints after every message sent before this call.
    pub async fn snapshot(&self) -> Snapshot {
        let (reply, answer) = oneshot::channel();
        let _ = self.tx.send(Message::Snapshot(reply));
        answer.await.unwrap_or_default()
    }
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
}
