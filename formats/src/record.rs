//! The record model: what a source produces ([`Record`]), where it came from ([`RecordMeta`]),
//! and what the batcher hands to a sink ([`Batch`]): the records of one partition key, stored
//! back to back in one buffer, with the source positions they cover.
//!
//! Flow: Source → `Record` → Decode → Partition → Batcher → `Batch` → Encode/Deliver → ack.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Identifies a source stream of ordered positions: a Kinesis shard id, or an input file path.
pub type ShardId = Arc<str>;

/// Where a record came from. The checkpoint tracker acknowledges `(shard, position)` pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// The shard (or file) the record was read from.
    pub shard: ShardId,
    /// Monotone per shard: a file's byte offset just past the record, or a Kinesis ordinal.
    /// The checkpoint tracker orders acknowledgements by it.
    pub position: u64,
    /// The source's own sequence number when it is not `position` (Kinesis); shown in dead letters.
    pub sequence_number: Option<Arc<str>>,
    /// KPL sub-sequence number of a de-aggregated user record.
    pub sub_sequence: Option<u32>,
    /// When the record arrived, in milliseconds since the Unix epoch (UTC).
    pub arrival_ms: i64,
    /// Delivery attempts made before this run: a redriven dead letter's `attemptsMade`, so a
    /// record that fails again is dead-lettered with the attempts of both runs.
    pub prior_attempts: u32,
}

impl RecordMeta {
    /// A record at `position` of `shard` (a file, or anything else without sequence numbers
    /// of its own), arrived at `arrival_ms`, with no earlier attempts.
    pub fn at(shard: ShardId, position: u64, arrival_ms: i64) -> RecordMeta {
        RecordMeta {
            shard,
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms,
            prior_attempts: 0,
        }
    }

    /// The sequence number to report: the source's own, or the position.
    pub fn sequence_text(&self) -> String {
        match &self.sequence_number {
            Some(seq) => seq.to_string(),
            None => self.position.to_string(),
        }
    }

    /// The record's place in its shard as every read of the shard sees it.
    pub fn stable_position(&self) -> StablePosition {
        StablePosition {
            sequence: self.sequence_text(),
            sub_sequence: self.sub_sequence.unwrap_or(0),
        }
    }
}

/// A record's place in its shard that is the same on every read: a Kinesis sequence number
/// and KPL sub-sequence, or a file's byte offset (`position` is a per-run ordinal for Kinesis,
/// so it cannot name anything that must survive a restart).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StablePosition {
    /// Decimal digits without leading zeros (Kinesis sequence numbers exceed 128 bits).
    pub sequence: String,
    pub sub_sequence: u32,
}

impl Ord for StablePosition {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.sequence.len(), &self.sequence, self.sub_sequence).cmp(&(
            other.sequence.len(),
            &other.sequence,
            other.sub_sequence,
        ))
    }
}

impl PartialOrd for StablePosition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for StablePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.sequence, self.sub_sequence)
    }
}

/// A run of one shard's records, first to last, that `exactly_once` delivery closes as a
/// unit: every partition's records of it become one object each, named from the segment, so
/// a re-read of the shard names them the same. `first_arrival_ms` names the objects' time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub shard: String,
    pub first: StablePosition,
    pub last: StablePosition,
    pub first_arrival_ms: i64,
}

/// One input record: its raw bytes and where it came from.
#[derive(Clone, Debug)]
pub struct Record {
    pub data: Bytes,
    pub meta: RecordMeta,
}

/// The partition a record belongs to: its evaluated prefix (a `!{firehose:random-string}`
/// expression, if any, is still unevaluated so that one object gets one random string).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey(pub Arc<str>);

impl PartitionKey {
    pub fn prefix(&self) -> &str {
        &self.0
    }
}

/// One record inside a batch: its bytes are `data[range]` of the batch.
#[derive(Clone, Debug)]
pub struct BatchRecord {
    pub meta: RecordMeta,
    pub range: Range<usize>,
}

/// A closed, immutable batch of records of one partition key.
///
/// Records are stored back to back in `data`, each followed by a newline, so an NDJSON
/// encoder writes `data` as is and a JSON decoder reads it in one pass.
#[derive(Clone, Debug)]
pub struct Batch {
    pub key: PartitionKey,
    pub data: Vec<u8>,
    pub records: Vec<BatchRecord>,
    /// Arrival time of the first record, ms since the epoch; names the object.
    pub first_arrival_ms: i64,
    /// The shard segment the batch is part of, in `exactly_once` delivery; names the object.
    pub segment: Option<Arc<Segment>>,
    /// Whether its records may still be written (a source sharing its shards with other
    /// workers); `None`: always.
    pub fence: Option<Arc<dyn Fence>>,
}

/// Says whether records may still be written. A source whose shards other workers may take
/// (Kinesis leases) admits a record only while this worker holds its shard's lease, in the
/// reading that produced the record; a sink checks before each write it starts, so a worker
/// that lost a lease starts no write under it.
pub trait Fence: Send + Sync + fmt::Debug {
    /// Whether the record of `shard` at `position` may still be written. Admitting a position
    /// admits every later one of the shard (a lost lease refuses the records of the reading
    /// it covered; a reading under a new lease starts at higher positions).
    fn admits(&self, shard: &ShardId, position: u64) -> bool;
}

impl Batch {
    pub fn new(key: PartitionKey) -> Self {
        Batch {
            key,
            data: Vec::new(),
            records: Vec::new(),
            first_arrival_ms: 0,
            segment: None,
            fence: None,
        }
    }

    /// Indices of the records its fence no longer admits (none without a fence). Positions
    /// ascend within a shard, so once a record is admitted the rest of its shard's run is too:
    /// one look per run while nothing is fenced.
    pub fn fenced_out(&self) -> Vec<usize> {
        let Some(fence) = &self.fence else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut admitted_run: Option<&ShardId> = None;
        for (i, record) in self.records.iter().enumerate() {
            let meta = &record.meta;
            if admitted_run.is_some_and(|shard| *shard == meta.shard) {
                continue;
            }
            if fence.admits(&meta.shard, meta.position) {
                admitted_run = Some(&meta.shard);
            } else {
                admitted_run = None;
                out.push(i);
            }
        }
        out
    }

    /// A batch of `lines` from one shard, positions 0, 1, …: for tests of what consumes batches.
    #[cfg(test)]
    pub fn of_lines<S: AsRef<[u8]>>(lines: &[S]) -> Batch {
        let mut batch = Batch::new(PartitionKey(Arc::from("k/")));
        for (i, line) in lines.iter().enumerate() {
            let meta = RecordMeta {
                shard: Arc::from("f"),
                position: i as u64,
                sequence_number: None,
                sub_sequence: None,
                arrival_ms: 0,
                prior_attempts: 0,
            };
            batch.push(line.as_ref(), meta);
        }
        batch
    }

    /// Appends one record (a newline is added after it).
    pub fn push(&mut self, data: &[u8], meta: RecordMeta) {
        if self.records.is_empty() {
            self.first_arrival_ms = meta.arrival_ms;
        }
        let start = self.data.len();
        self.data.extend_from_slice(data);
        self.records.push(BatchRecord {
            meta,
            range: start..start + data.len(),
        });
        self.data.push(b'\n');
    }

    /// The raw bytes of record `index` (without its newline).
    pub fn record_data(&self, index: usize) -> &[u8] {
        &self.data[self.records[index].range.clone()]
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Incoming bytes: the records' own sizes, without separators (Firehose's measure).
    pub fn incoming_bytes(&self) -> usize {
        self.data.len() - self.records.len()
    }

    /// A new batch of the same key holding only the records at `indices` (in that order).
    pub fn select(&self, indices: &[usize]) -> Batch {
        let mut out = Batch::new(self.key.clone());
        out.segment = self.segment.clone();
        out.fence = self.fence.clone();
        for &i in indices {
            out.push(self.record_data(i), self.records[i].meta.clone());
        }
        out
    }
}

/// Firehose's error-output types: the folder a dead-lettered record lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorOutputType {
    ProcessingFailed,
    FormatConversionFailed,
    OpenSearchFailed,
    DynamodbFailed,
    S3Failed,
}

impl ErrorOutputType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorOutputType::ProcessingFailed => "processing-failed",
            ErrorOutputType::FormatConversionFailed => "format-conversion-failed",
            // Today's Firehose name; it was `elasticsearch-failed` (redrive reads both).
            ErrorOutputType::OpenSearchFailed => "AmazonOpenSearchService-failed",
            ErrorOutputType::DynamodbFailed => "dynamodb-failed",
            ErrorOutputType::S3Failed => "s3-failed",
        }
    }
}

/// A record that could not be delivered, with why: the unit the dead letter stores.
#[derive(Clone, Debug)]
pub struct FailedRecord {
    pub data: Bytes,
    pub meta: RecordMeta,
    pub error_type: ErrorOutputType,
    /// Short machine-readable code, e.g. `Decode.InvalidJson`, `Format.SchemaMismatch`.
    pub error_code: String,
    pub error_message: String,
    pub attempts_made: u32,
    /// Destination fields for the error record, e.g. `("esDocumentId", "…")`.
    pub destination_fields: Vec<(&'static str, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(position: u64) -> RecordMeta {
        RecordMeta {
            shard: Arc::from("f"),
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms: 1000 + position as i64,
            prior_attempts: 0,
        }
    }

    #[test]
    fn batch_stores_records_back_to_back_and_selects_by_index() {
        let mut batch = Batch::new(PartitionKey(Arc::from("p/")));
        batch.push(br#"{"a":1}"#, meta(1));
        batch.push(br#"{"a":22}"#, meta(2));
        batch.push(br#"{"a":333}"#, meta(3));
        assert_eq!(batch.data, b"{\"a\":1}\n{\"a\":22}\n{\"a\":333}\n");
        assert_eq!(batch.record_data(1), br#"{"a":22}"#);
        assert_eq!(batch.incoming_bytes(), 7 + 8 + 9);
        assert_eq!(batch.first_arrival_ms, 1001);
        let picked = batch.select(&[2, 0]);
        assert_eq!(picked.data, b"{\"a\":333}\n{\"a\":1}\n");
        assert_eq!(picked.records[0].meta.position, 3);
    }

    /// Admits shard `a` from position 10 on, and nothing of any other shard.
    #[derive(Debug)]
    struct FromTen;

    impl Fence for FromTen {
        fn admits(&self, shard: &ShardId, position: u64) -> bool {
            &**shard == "a" && position >= 10
        }
    }

    #[test]
    fn fenced_out_lists_the_records_the_fence_refuses_and_select_keeps_the_fence() {
        let mut batch = Batch::new(PartitionKey(Arc::from("p/")));
        let at = |shard: &str, position| RecordMeta {
            shard: Arc::from(shard),
            ..meta(position)
        };
        assert!(batch.fenced_out().is_empty());
        // Shard a's run starts below the fence's floor and crosses it; b is not admitted.
        for (shard, position) in [
            ("a", 8),
            ("a", 9),
            ("a", 10),
            ("a", 11),
            ("b", 1),
            ("a", 12),
        ] {
            batch.push(b"{}", at(shard, position));
        }
        assert!(batch.fenced_out().is_empty(), "no fence: everything goes");
        batch.fence = Some(Arc::new(FromTen));
        assert_eq!(batch.fenced_out(), vec![0, 1, 4]);
        let kept = batch.select(&[2, 3, 5]);
        assert!(kept.fence.is_some());
        assert!(kept.fenced_out().is_empty());
    }

    #[test]
    fn stable_positions_order_as_numbers_then_sub_sequences() {
        let at = |sequence: &str, sub_sequence| StablePosition {
            sequence: sequence.into(),
            sub_sequence,
        };
        assert!(at("9", 0) < at("10", 0));
        assert!(
            at(
                "49590338271490256608559692538361571095921575989136588898",
                0
            ) > at("4959033827149025660855969253836157109592157598913658889", 7)
        );
        assert!(at("10", 1) < at("10", 2));
        assert_eq!(meta(7).stable_position(), at("7", 0));
    }
}
