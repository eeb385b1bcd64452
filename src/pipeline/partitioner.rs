//! The partitioner: decodes a record (validation, event time, partition-key fields) and
//! evaluates the prefix template into its [`PartitionKey`]. Time is the record's event time
//! when a time field is configured, else its arrival time (Firehose's default). Values from
//! the record are escaped by the template, and the evaluated prefix must pass the
//! destination's [`NameRule`]; a record that fails goes to the dead letter with the reason.
//!
//! Most records of a stream share their prefix with the record before them: when the template
//! evaluates the same for a whole UTC hour ([`PrefixTemplate::same_within_utc_hour`]), the
//! last key is reused for a record of the same hour and partition values, without formatting
//! or checking it again (nor allocating it).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use spillway_formats::decode::{DecodeError, RecordDecoder};
use spillway_formats::prefix::{NameRule, PrefixContext, PrefixError, PrefixTemplate};
use spillway_formats::record::{PartitionKey, Record};

pub struct Partitioner {
    template: PrefixTemplate,
    decoder: RecordDecoder,
    rule: NameRule,
    /// Whether `last` may be reused within its hour.
    hourly: bool,
    last: Option<LastKey>,
}

/// The key evaluated last, and what it was evaluated from.
struct LastKey {
    hour: i64,
    values: Vec<String>,
    key: PartitionKey,
}

const HOUR_MS: i64 = 3_600_000;

/// Why a record has no partition: it goes to the dead letter as `processing-failed`.
#[derive(Debug)]
pub struct PartitionError {
    pub code: &'static str,
    pub message: String,
}

impl From<DecodeError> for PartitionError {
    fn from(e: DecodeError) -> Self {
        PartitionError {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl Partitioner {
    pub fn new(template: PrefixTemplate, decoder: RecordDecoder, rule: NameRule) -> Self {
        Partitioner {
            hourly: template.same_within_utc_hour(),
            template,
            decoder,
            rule,
            last: None,
        }
    }

    pub fn template(&self) -> &PrefixTemplate {
        &self.template
    }

    pub fn partition(&mut self, record: &Record) -> Result<PartitionKey, PartitionError> {
        let decoded = self.decoder.decode(&record.data)?;
        let time_ms = decoded.event_time_ms.unwrap_or(record.meta.arrival_ms);
        let hour = time_ms.div_euclid(HOUR_MS);
        if let Some(last) = self.last.as_ref().filter(|_| self.hourly) {
            if last.hour == hour && last.values == decoded.partition_values {
                return Ok(last.key.clone());
            }
        }
        let timestamp =
            DateTime::<Utc>::from_timestamp_millis(time_ms).ok_or_else(|| PartitionError {
                code: "Decode.BadTimestamp",
                message: format!("time {time_ms} ms is out of range"),
            })?;
        let keys: Vec<(&str, &str)> = self
            .decoder
            .partition_keys
            .iter()
            .zip(&decoded.partition_values)
            .map(|((name, _), value)| (name.as_str(), value.as_str()))
            .collect();
        let ctx = PrefixContext {
            timestamp,
            partition_keys: &keys,
            error_output_type: None,
        };
        let prefix = self.template.evaluate(&ctx).map_err(|e| self.error(e))?;
        self.rule.check(&prefix).map_err(|e| self.error(e))?;
        let key = PartitionKey(Arc::from(prefix));
        if self.hourly {
            self.last = Some(LastKey {
                hour,
                values: decoded.partition_values,
                key: key.clone(),
            });
        }
        Ok(key)
    }

    fn error(&self, e: PrefixError) -> PartitionError {
        let code = match &e {
            PrefixError::EmptyPartitionKey { .. } => "Partition.EmptyKey",
            PrefixError::UnsafeName { .. } => self.rule.error_code(),
            _ => "Partition.PrefixFailed",
        };
        PartitionError {
            code,
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_formats::decode::FieldPath;
    use spillway_formats::record::RecordMeta;

    fn record(json: &str, arrival_ms: i64) -> Record {
        Record {
            data: bytes::Bytes::copy_from_slice(json.as_bytes()),
            meta: RecordMeta {
                shard: Arc::from("s"),
                position: 1,
                sequence_number: None,
                sub_sequence: None,
                arrival_ms,
                prior_attempts: 0,
            },
        }
    }

    #[test]
    fn event_time_and_query_keys_build_the_hive_prefix() {
        let mut p = Partitioner::new(
            PrefixTemplate::parse("events/country=!{partitionKeyFromQuery:country}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/").unwrap(),
            RecordDecoder::new(1000, Some(FieldPath::parse(".ts").unwrap()), vec![("country".into(), FieldPath::parse(".geo.country").unwrap())]),
            NameRule::ObjectKey,
        );
        let key = p
            .partition(&record(
                r#"{"ts":"2024-05-01T07:59:59.999Z","geo":{"country":"DE"}}"#,
                0,
            ))
            .unwrap();
        assert_eq!(key.prefix(), "events/country=DE/dt=2024-05-01/hour=07/");
        let err = p
            .partition(&record(r#"{"ts":"2024-05-01T07:00:00Z"}"#, 0))
            .unwrap_err();
        assert_eq!(err.code, "Decode.MissingField");
    }

    fn keyed(prefix: &str, rule: NameRule) -> Partitioner {
        Partitioner::new(
            PrefixTemplate::parse(prefix).unwrap(),
            RecordDecoder::new(
                1000,
                None,
                vec![("k".into(), FieldPath::parse(".k").unwrap())],
            ),
            rule,
        )
    }

    #[test]
    fn values_from_records_cannot_leave_their_partition() {
        let mut p = keyed("events/k=!{partitionKeyFromQuery:k}/", NameRule::ObjectKey);
        let mut part = |value: &str| {
            let json = serde_json::json!({ "k": value }).to_string();
            p.partition(&record(&json, 0))
                .map(|key| key.prefix().to_string())
                .map_err(|e| (e.code, e.message))
        };
        let table = [
            ("../../../../../x", "events/k=..%2F..%2F..%2F..%2F..%2Fx/"),
            ("a/b", "events/k=a%2Fb/"),
            ("..", "events/k=%2E%2E/"),
            ("x=1?#", "events/k=x%3D1%3F%23/"),
            (
                "new
line",
                "events/k=new%0Aline/",
            ),
            ("Zürich", "events/k=Zürich/"),
        ];
        for (value, want) in table {
            assert_eq!(part(value).as_deref(), Ok(want), "{value:?}");
        }
        // A value longer than a file name may be: refused, not retried as a failing write.
        let (code, message) = part(&"a".repeat(300)).unwrap_err();
        assert_eq!(code, "Partition.UnsafePrefix");
        assert!(message.contains("above the 255-byte limit"), "{message}");
        let (code, message) = part("").unwrap_err();
        assert_eq!(code, "Partition.EmptyKey");
        assert!(message.contains("`k` is an empty string"), "{message}");
        // A whole-folder key: `..` and `.` are escaped; nothing names a parent folder.
        let mut p = keyed("!{partitionKeyFromQuery:k}/", NameRule::ObjectKey);
        let key = p.partition(&record(r#"{"k":".."}"#, 0)).unwrap();
        assert_eq!(key.prefix(), "%2E%2E/");
    }

    #[test]
    fn index_and_table_names_from_records_must_be_valid() {
        let mut p = keyed("logs-!{partitionKeyFromQuery:k}", NameRule::IndexName);
        assert_eq!(
            p.partition(&record(r#"{"k":"web"}"#, 0)).unwrap().prefix(),
            "logs-web"
        );
        for bad in ["Web", "a b", "x/y", "a,b"] {
            let json = serde_json::json!({ "k": bad }).to_string();
            let err = p.partition(&record(&json, 0)).unwrap_err();
            assert_eq!(
                err.code, "Partition.InvalidIndexName",
                "{bad}: {}",
                err.message
            );
            assert!(
                err.message.starts_with("index name `logs-"),
                "{}",
                err.message
            );
        }
        let mut p = keyed("orders_!{partitionKeyFromQuery:k}", NameRule::TableName);
        assert!(p.partition(&record(r#"{"k":"eu-1"}"#, 0)).is_ok());
        let err = p.partition(&record(r#"{"k":"a/b"}"#, 0)).unwrap_err();
        assert_eq!(err.code, "Partition.InvalidTableName");
    }

    #[test]
    fn the_last_key_is_reused_within_its_hour_and_values_only() {
        let decoder = || {
            RecordDecoder::new(
                1000,
                Some(FieldPath::parse(".ts").unwrap()),
                vec![("k".into(), FieldPath::parse(".k").unwrap())],
            )
        };
        let hourly = "k=!{partitionKeyFromQuery:k}/dt=!{timestamp:yyyy-MM-dd}/!{timestamp:HH}/";
        let mut p = Partitioner::new(
            PrefixTemplate::parse(hourly).unwrap(),
            decoder(),
            NameRule::ObjectKey,
        );
        let mut key = |json: &str| p.partition(&record(json, 0)).unwrap();
        let first = key(r#"{"ts":"2024-05-01T07:00:00Z","k":"a"}"#);
        let same = key(r#"{"ts":"2024-05-01T07:59:59.999Z","k":"a"}"#);
        assert!(Arc::ptr_eq(&first.0, &same.0), "reused within the hour");
        let other_value = key(r#"{"ts":"2024-05-01T07:30:00Z","k":"b"}"#);
        assert_eq!(other_value.prefix(), "k=b/dt=2024-05-01/07/");
        let next_hour = key(r#"{"ts":"2024-05-01T08:00:00Z","k":"b"}"#);
        assert_eq!(next_hour.prefix(), "k=b/dt=2024-05-01/08/");
        let before_1970 = key(r#"{"ts":"1969-12-31T23:59:59Z","k":"b"}"#);
        assert_eq!(before_1970.prefix(), "k=b/dt=1969-12-31/23/");
        // A template finer than the hour is evaluated for every record.
        let mut p = Partitioner::new(
            PrefixTemplate::parse("!{timestamp:HH-mm}/").unwrap(),
            decoder(),
            NameRule::ObjectKey,
        );
        let mut key = |json: &str| p.partition(&record(json, 0)).unwrap();
        key(r#"{"ts":"2024-05-01T07:00:00Z","k":"a"}"#);
        let later = key(r#"{"ts":"2024-05-01T07:59:00Z","k":"a"}"#);
        assert_eq!(later.prefix(), "07-59/");
    }

    #[test]
    fn arrival_time_is_used_without_a_time_field() {
        let mut p = Partitioner::new(
            PrefixTemplate::parse(spillway_formats::prefix::DEFAULT_PREFIX).unwrap(),
            RecordDecoder::new(1000, None, vec![]),
            NameRule::ObjectKey,
        );
        let key = p
            .partition(&record(r#"{"a":1}"#, 1_714_546_800_000))
            .unwrap();
        assert_eq!(key.prefix(), "2024/05/01/07/");
        assert_eq!(
            p.partition(&record("{oops", 0)).unwrap_err().code,
            "Decode.InvalidJson"
        );
    }
}
