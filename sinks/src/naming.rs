//! Firehose object naming, shared by every object-store destination (local lake, S3):
//! `<stream>-<version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<id><extension>`.

use chrono::{DateTime, Utc};
use spillway_formats::prefix::pattern::Zone;
use spillway_formats::record::Segment;

/// Firehose's delivery-stream version; Spillway writes 1.
pub const STREAM_VERSION: u32 = 1;

/// How a destination names its objects: after the stream, with the encoder's extension or
/// the configured one (Firehose's `FileExtension`), the time in the configured zone
/// (Firehose's `CustomTimeZone`, which applies to the prefix and the name alike).
#[derive(Clone, Debug, Default)]
pub struct ObjectNaming {
    pub stream: String,
    /// Replaces the format's own extension when set, e.g. `.json`.
    pub extension: Option<String>,
    pub zone: Zone,
}

/// The file name of an object: `time_ms` is the batch's first arrival, `id` unique per object,
/// the time written in `zone`.
pub fn object_name(stream: &str, time_ms: i64, id: &str, extension: &str, zone: &Zone) -> String {
    let time = DateTime::<Utc>::from_timestamp_millis(time_ms).unwrap_or_default();
    let stamp = match zone {
        Zone::Utc => time.format("%Y-%m-%d-%H-%M-%S").to_string(),
        Zone::Region(tz) => time
            .with_timezone(tz)
            .format("%Y-%m-%d-%H-%M-%S")
            .to_string(),
    };
    format!("{stream}-{STREAM_VERSION}-{stamp}-{id}{extension}")
}

/// A fresh random object id (a UUID v4, as Firehose uses).
pub fn random_object_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The object id in `exactly_once` delivery: a name-based UUID (v5) of the segment and the
/// evaluated prefix, so that a re-read of the same records names the same object.
pub fn segment_object_id(segment: &Segment, evaluated_prefix: &str) -> String {
    let name = format!(
        "{}\n{}\n{}\n{evaluated_prefix}",
        segment.shard, segment.first, segment.last
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

/// The full key of a new object: the evaluated prefix (each `!{firehose:random-string}`
/// filled in) followed by a fresh object name.
pub fn new_object_key(
    evaluated_prefix: &str,
    stream: &str,
    time_ms: i64,
    extension: &str,
    zone: &Zone,
) -> String {
    let prefix = spillway_formats::prefix::fill_random_strings(evaluated_prefix);
    let name = object_name(stream, time_ms, &random_object_id(), extension, zone);
    format!("{prefix}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_firehose_shape() {
        assert_eq!(
            object_name("clicks", 1_714_521_601_500, "abc", ".parquet", &Zone::Utc),
            "clicks-1-2024-05-01-00-00-01-abc.parquet"
        );
        let tokyo: Zone = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            object_name("clicks", 1_714_521_601_500, "abc", "", &tokyo),
            "clicks-1-2024-05-01-09-00-01-abc"
        );
    }

    #[test]
    fn segment_ids_depend_on_the_segment_and_prefix_only() {
        use spillway_formats::record::StablePosition;
        let at = |sequence: &str| StablePosition {
            sequence: sequence.into(),
            sub_sequence: 0,
        };
        let segment = Segment {
            shard: "shardId-000000000000".into(),
            first: at("100"),
            last: at("200"),
            first_arrival_ms: 0,
        };
        let id = segment_object_id(&segment, "dt=2024-05-01/");
        assert_eq!(id, segment_object_id(&segment.clone(), "dt=2024-05-01/"));
        assert_ne!(id, segment_object_id(&segment, "dt=2024-05-02/"));
        let later = Segment {
            last: at("201"),
            ..segment
        };
        assert_ne!(id, segment_object_id(&later, "dt=2024-05-01/"));
        assert_eq!(id.len(), 36);
    }
}
