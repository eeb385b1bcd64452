//! Firehose object naming, shared by every object-store destination (local lake, S3):
//! `<stream>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<id><extension>`.

use chrono::{DateTime, Utc};

/// Firehose's delivery-stream version; Spillway writes 1.
pub const STREAM_VERSION: u32 = 1;

/// The file name of an object: `time_ms` is the batch's first arrival, `id` unique per object.
pub fn object_name(stream: &str, time_ms: i64, id: &str, extension: &str) -> String {
    let time = DateTime::<Utc>::from_timestamp_millis(time_ms).unwrap_or_default();
    format!(
        "{stream}-{STREAM_VERSION}-{}-{id}{extension}",
        time.format("%Y-%m-%d-%H-%M-%S")
    )
}

/// A fresh random object id (a UUID v4, as Firehose uses).
pub fn random_object_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The full key of a new object: the evaluated prefix (its `!{firehose:random-string}`
/// filled in) followed by a fresh object name.
pub fn new_object_key(
    evaluated_prefix: &str,
    stream: &str,
    time_ms: i64,
    extension: &str,
) -> String {
    let prefix = spillway_formats::prefix::fill_random_string(
        evaluated_prefix,
        &spillway_formats::prefix::random_string(),
    );
    format!(
        "{prefix}{}",
        object_name(stream, time_ms, &random_object_id(), extension)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_firehose_shape() {
        assert_eq!(
            object_name("clicks", 1_714_521_601_500, "abc", ".snappy.parquet"),
            "clicks-1-2024-05-01-00-00-01-abc.snappy.parquet"
        );
    }
}
