//! Sources: where records enter. Each produces chunks of [`Record`]s on a bounded channel, so
//! a full pipeline stops the source (back-pressure). The file source reads NDJSON files, a
//! folder, or stdin; the Kinesis source (its own issue) plugs in the same way.
//!
//! [`Record`]: spillway_formats::record::Record

pub mod file;
pub mod kinesis;
pub mod read_back;

use spillway_formats::record::{FailedRecord, Record, ShardId};

/// What a source sends the pipeline, in order per shard.
#[derive(Debug)]
pub enum SourceMessage {
    Records(Vec<Record>),
    /// Records the source itself could not turn into records (e.g. a corrupt KPL aggregate):
    /// they are dead-lettered, and acknowledged like the rest.
    Failed(Vec<FailedRecord>),
    /// The shard was read to its end; its checkpoint becomes `SHARD_END` once every record
    /// sent before this is acknowledged.
    ShardEnd(ShardId),
}
