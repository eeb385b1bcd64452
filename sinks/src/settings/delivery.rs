//! The delivery settings every destination shares, read from its section beside the
//! destination's own keys: error prefix, retries, concurrency, buffering, exactly-once
//! objects, the source-record backup, and the naming of objects. A destination says which of
//! them it takes (`Destination::features`); the others are refused with the key named.

use serde::Deserialize;

use super::{HumanDuration, HumanSize};

#[derive(Debug, Deserialize)]
pub struct DeliveryConfig {
    /// Firehose ErrorOutputPrefix for dead letters; must contain
    /// `!{firehose:error-output-type}` when the prefix has expressions.
    #[serde(default)]
    pub error_output_prefix: Option<String>,
    /// How long to retry a failing write before dead-lettering (0–7200 s).
    #[serde(default = "defaults::retry_duration")]
    pub retry_duration: HumanDuration,
    /// Deliveries of full-size batches in flight at once (1–64); smaller batches weigh their
    /// share of the size hint, so up to 16 times as many small ones write at once.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub buffering: BufferingConfig,
    /// Effectively-once objects: batches close per shard segment, objects are named from the
    /// segment's source positions and created only if absent, so a re-read after a crash or
    /// a restart rewrites nothing. More, smaller objects; needs a source that reads the same
    /// records again (a file or Kinesis, not stdin) and a prefix without
    /// `!{firehose:random-string}`.
    #[serde(default)]
    pub exactly_once: bool,
    /// Also write every raw record, gzip NDJSON, under this backup prefix.
    #[serde(default)]
    pub backup: Option<BackupConfig>,
    /// Firehose's `CustomTimeZone`: the IANA zone (e.g. `Asia/Tokyo`) that `!{timestamp:…}`
    /// and the time in object names are written in. Default: UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Firehose's `FileExtension`: replaces the format's extension in object names, e.g.
    /// `".json"`.
    #[serde(default)]
    pub file_extension: Option<String>,
}

/// The source-record backup: every raw record, gzip NDJSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Backup prefix (Firehose expressions allowed, timestamped by arrival time).
    pub prefix: String,
}

/// Firehose buffering hints, plus the memory limits that bound all open buffers together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferingConfig {
    /// Flush a partition's buffer at this many incoming bytes (1–128 MiB).
    #[serde(default = "defaults::buffer_size")]
    pub size: HumanSize,
    /// Flush a partition's buffer this long after its first record (0–900 s).
    #[serde(default = "defaults::buffer_interval")]
    pub interval: HumanDuration,
    /// All open buffers together, and the batches being encoded (each reckoned at 3× its
    /// incoming bytes); buffers above it flush early (largest first), and a batch waits for
    /// room before its encoding starts (unless nothing else is in flight).
    #[serde(default = "defaults::memory_budget")]
    pub memory_budget: HumanSize,
    /// Open partition buffers at most; above it the least recently written flush early, an
    /// eighth of them at once. Unset: the memory budget over 4 KiB (131,072 for 512 MiB).
    #[serde(default)]
    pub max_open_partitions: Option<usize>,
}

impl Default for BufferingConfig {
    fn default() -> Self {
        BufferingConfig {
            size: defaults::buffer_size(),
            interval: defaults::buffer_interval(),
            memory_budget: defaults::memory_budget(),
            max_open_partitions: None,
        }
    }
}

mod defaults {
    use super::{HumanDuration, HumanSize};

    pub fn retry_duration() -> HumanDuration {
        HumanDuration::from_secs(300)
    }
    pub fn concurrency() -> usize {
        2
    }
    pub fn buffer_size() -> HumanSize {
        HumanSize(64 << 20)
    }
    pub fn buffer_interval() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    pub fn memory_budget() -> HumanSize {
        HumanSize(512 << 20)
    }
}
