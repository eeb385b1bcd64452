//! The partitioner: decodes a record (validation, event time, partition-key fields) and
//! evaluates the prefix template into its [`PartitionKey`]. Time is the record's event time
//! when a time field is configured, else its arrival time (Firehose's default).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use spillway_formats::decode::{DecodeError, RecordDecoder};
use spillway_formats::prefix::{PrefixContext, PrefixTemplate};
use spillway_formats::record::{PartitionKey, Record};

pub struct Partitioner {
    template: PrefixTemplate,
    decoder: RecordDecoder,
}

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
    pub fn new(template: PrefixTemplate, decoder: RecordDecoder) -> Self {
        Partitioner { template, decoder }
    }

    pub fn template(&self) -> &PrefixTemplate {
        &self.template
    }

    pub fn partition(&self, record: &Record) -> Result<PartitionKey, PartitionError> {
        let decoded = self.decoder.decode(&record.data)?;
        let time_ms = decoded.event_time_ms.unwrap_or(record.meta.arrival_ms);
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
        let prefix = self.template.evaluate(&ctx).map_err(|e| PartitionError {
            code: "Partition.PrefixFailed",
            message: e.to_string(),
        })?;
        Ok(PartitionKey(Arc::from(prefix)))
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
        let p = Partitioner::new(
            PrefixTemplate::parse("events/country=!{partitionKeyFromQuery:country}/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/").unwrap(),
            RecordDecoder {
                max_record_size: 1000,
                time_field: Some(FieldPath::parse(".ts").unwrap()),
                partition_keys: vec![("country".into(), FieldPath::parse(".geo.country").unwrap())],
            },
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

    #[test]
    fn arrival_time_is_used_without_a_time_field() {
        let p = Partitioner::new(
            PrefixTemplate::parse(spillway_formats::prefix::DEFAULT_PREFIX).unwrap(),
            RecordDecoder {
                max_record_size: 1000,
                time_field: None,
                partition_keys: vec![],
            },
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
