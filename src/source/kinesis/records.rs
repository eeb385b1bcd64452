//! Kinesis records → pipeline records: KPL aggregates are de-aggregated into user records with
//! sub-sequence numbers, a corrupt aggregate becomes a failed record (dead-lettered as
//! `processing-failed` with its bytes), and every record gets the next position of its shard.
//! On a restart inside an aggregate, the user records up to the checkpointed sub-sequence are
//! skipped.

use std::sync::Arc;

use aws_sdk_kinesis::types::Record as KinesisRecord;
use bytes::Bytes;
use spillway_formats::kpl;
use spillway_formats::record::{ErrorOutputType, FailedRecord, Record, RecordMeta, ShardId};

use crate::source::SourceMessage;

/// Where a shard reader is: the next position to hand out and what to skip on resume.
#[derive(Debug)]
pub struct ShardCursor {
    pub shard: ShardId,
    next_position: u64,
    /// Skip user records of this aggregate up to and including this sub-sequence.
    skip: Option<(String, u32)>,
    /// Sequence number of the last Kinesis record read (for iterator renewal).
    pub last_sequence: Option<String>,
}

impl ShardCursor {
    pub fn new(shard: ShardId, skip: Option<(String, u32)>) -> Self {
        ShardCursor::starting_at(shard, skip, 1)
    }

    /// A cursor whose first record gets `first_position`: a shard read again in the same
    /// process (its lease lost or handed over, then taken back) continues above the positions
    /// of its earlier readers, which the checkpoint tracker may still hold.
    pub fn starting_at(shard: ShardId, skip: Option<(String, u32)>, first_position: u64) -> Self {
        ShardCursor {
            shard,
            next_position: first_position,
            skip,
            last_sequence: None,
        }
    }

    /// Converts a page of Kinesis records into pipeline messages, in position order.
    pub fn convert(&mut self, records: &[KinesisRecord]) -> Vec<SourceMessage> {
        let mut messages = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let sequence: Arc<str> = Arc::from(record.sequence_number());
            let arrival_ms = record
                .approximate_arrival_timestamp()
                .and_then(|t| t.to_millis().ok())
                .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
            let data = Bytes::copy_from_slice(record.data().as_ref());
            self.last_sequence = Some(record.sequence_number().to_string());
            if !kpl::is_aggregated(&data) {
                out.push(self.record(data, sequence, None, arrival_ms));
                continue;
            }
            match kpl::deaggregate(&data) {
                Ok(users) => {
                    for user in users {
                        let skipped = self.skip.as_ref().is_some_and(|(seq, sub)| {
                            seq.as_str() == &*sequence && user.sub_sequence <= *sub
                        });
                        if !skipped {
                            out.push(self.record(
                                user.data,
                                sequence.clone(),
                                Some(user.sub_sequence),
                                arrival_ms,
                            ));
                        }
                    }
                }
                Err(e) => {
                    if !out.is_empty() {
                        messages.push(SourceMessage::Records(std::mem::take(&mut out)));
                    }
                    let meta = self.meta(sequence, None, arrival_ms);
                    messages.push(SourceMessage::Failed(vec![FailedRecord {
                        data,
                        meta,
                        error_type: ErrorOutputType::ProcessingFailed,
                        error_code: "Kpl.CorruptAggregate".into(),
                        error_message: format!(
                            "KPL aggregated record cannot be de-aggregated: {e}"
                        ),
                        attempts_made: 1,
                        destination_fields: Vec::new(),
                    }]));
                }
            }
        }
        if !out.is_empty() {
            messages.push(SourceMessage::Records(out));
        }
        self.skip = None;
        messages
    }

    fn meta(
        &mut self,
        sequence: Arc<str>,
        sub_sequence: Option<u32>,
        arrival_ms: i64,
    ) -> RecordMeta {
        let position = self.next_position;
        self.next_position += 1;
        RecordMeta {
            shard: self.shard.clone(),
            position,
            sequence_number: Some(sequence),
            sub_sequence,
            arrival_ms,
            prior_attempts: 0,
        }
    }

    fn record(
        &mut self,
        data: Bytes,
        sequence: Arc<str>,
        sub_sequence: Option<u32>,
        arrival_ms: i64,
    ) -> Record {
        Record {
            data,
            meta: self.meta(sequence, sub_sequence, arrival_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_kinesis::primitives::Blob;

    use super::*;

    fn kinesis(seq: &str, data: &[u8]) -> KinesisRecord {
        KinesisRecord::builder()
            .sequence_number(seq)
            .partition_key("pk")
            .data(Blob::new(data.to_vec()))
            .build()
            .unwrap()
    }

    /// (data, position, sequence number, sub-sequence) of a converted record.
    type Seen<'a> = (&'a [u8], u64, Option<&'a str>, Option<u32>);

    #[test]
    fn plain_aggregated_and_corrupt_records() {
        let aggregate = kpl::aggregate(&[("a", b"{\"n\":2}"), ("b", b"{\"n\":3}")]);
        let mut corrupt = aggregate.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let mut cursor = ShardCursor::new(Arc::from("shard-1"), None);
        let messages = cursor.convert(&[
            kinesis("100", b"{\"n\":1}"),
            kinesis("200", &aggregate),
            kinesis("300", &corrupt),
        ]);
        let [SourceMessage::Records(records), SourceMessage::Failed(failed)] = &messages[..] else {
            panic!("records, then the failed aggregate: {messages:?}");
        };
        let seen: Vec<Seen> = records
            .iter()
            .map(|r| {
                (
                    r.data.as_ref(),
                    r.meta.position,
                    r.meta.sequence_number.as_deref(),
                    r.meta.sub_sequence,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (&b"{\"n\":1}"[..], 1, Some("100"), None),
                (b"{\"n\":2}", 2, Some("200"), Some(0)),
                (b"{\"n\":3}", 3, Some("200"), Some(1)),
            ]
        );
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].error_code, "Kpl.CorruptAggregate");
        assert_eq!(failed[0].data.as_ref(), &corrupt[..]);
        assert_eq!(failed[0].meta.position, 4);
        assert_eq!(cursor.last_sequence.as_deref(), Some("300"));
    }

    #[test]
    fn resuming_inside_an_aggregate_skips_what_was_checkpointed() {
        let aggregate = kpl::aggregate(&[("a", b"1"), ("a", b"2"), ("a", b"3")]);
        let mut cursor = ShardCursor::new(Arc::from("s"), Some(("200".into(), 1)));
        let messages = cursor.convert(&[kinesis("200", &aggregate)]);
        let [SourceMessage::Records(records)] = &messages[..] else {
            panic!("{messages:?}")
        };
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].data.as_ref(), b"3");
        assert_eq!(records[0].meta.sub_sequence, Some(2));
    }
}
