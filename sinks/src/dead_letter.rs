//! The dead letter: where records go that could not be delivered, in Firehose's error-record
//! JSON (one document per line), under an error prefix with `!{firehose:error-output-type}`.
//! A dead-letter write is retried until it succeeds ([`write_durably`]): the pipeline
//! acknowledges a record only once it is delivered or dead-lettered, so data is never dropped
//! to make progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use spillway_formats::prefix::{PrefixContext, PrefixTemplate};
use spillway_formats::record::FailedRecord;

use crate::naming::new_object_key;
use crate::sink::SinkError;
use crate::store::{ObjectStore, PutOptions};

/// Firehose's error-record document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord {
    pub attempts_made: u32,
    /// When the record arrived, ms since the epoch.
    pub arrival_timestamp: i64,
    pub error_code: String,
    pub error_message: String,
    /// When the last attempt ended, ms since the epoch.
    pub attempt_ending_timestamp: i64,
    /// The original record bytes, base64.
    pub raw_data: String,
    pub sequence_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_sequence_number: Option<u32>,
    /// The shard (or input file) the record came from.
    pub shard_id: String,
    /// Destination fields (`esDocumentId`, `esIndexName`, …).
    #[serde(flatten)]
    pub destination: BTreeMap<String, String>,
}

impl ErrorRecord {
    pub fn from_failed(record: &FailedRecord, ending_ms: i64) -> Self {
        ErrorRecord {
            // A redriven record counts the attempts of the runs before this one too.
            attempts_made: record.attempts_made + record.meta.prior_attempts,
            arrival_timestamp: record.meta.arrival_ms,
            error_code: record.error_code.clone(),
            error_message: crate::redact::redact(&record.error_message).into_owned(),
            attempt_ending_timestamp: ending_ms,
            raw_data: base64::engine::general_purpose::STANDARD.encode(&record.data),
            sequence_number: record.meta.sequence_text(),
            sub_sequence_number: record.meta.sub_sequence,
            shard_id: record.meta.shard.to_string(),
            destination: record
                .destination_fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    /// The original record bytes.
    pub fn raw_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.raw_data)
    }
}

/// Somewhere failed records are kept.
#[async_trait]
pub trait DeadLetter: Send + Sync {
    /// Stores every record durably, or fails as a whole. Returns the objects written.
    async fn write(&self, records: &[FailedRecord]) -> Result<Vec<String>, SinkError>;
}

/// Dead letters as NDJSON objects in an object store (a local folder or S3), one object per
/// error-output type, under the evaluated error prefix.
pub struct ObjectDeadLetter {
    store: Arc<dyn ObjectStore>,
    prefix: PrefixTemplate,
    stream: String,
}

impl ObjectDeadLetter {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: PrefixTemplate, stream: String) -> Self {
        ObjectDeadLetter {
            store,
            prefix,
            stream,
        }
    }
}

#[async_trait]
impl DeadLetter for ObjectDeadLetter {
    async fn write(&self, records: &[FailedRecord]) -> Result<Vec<String>, SinkError> {
        let now = Utc::now();
        let mut objects: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for record in records {
            let ctx = PrefixContext {
                timestamp: now,
                partition_keys: &[],
                error_output_type: Some(record.error_type.as_str()),
            };
            let prefix = self
                .prefix
                .evaluate(&ctx)
                .map_err(|e| SinkError::permanent("DeadLetter.Prefix", e.to_string()))?;
            let line =
                serde_json::to_vec(&ErrorRecord::from_failed(record, now.timestamp_millis()))
                    .map_err(|e| SinkError::permanent("DeadLetter.Json", e.to_string()))?;
            let body = objects.entry(prefix).or_default();
            body.extend_from_slice(&line);
            body.push(b'\n');
        }
        let options = PutOptions {
            content_type: "application/x-ndjson",
            content_encoding: None,
            ..PutOptions::default()
        };
        let mut written = Vec::new();
        for (prefix, body) in objects {
            let key = new_object_key(&prefix, &self.stream, now.timestamp_millis(), ".json");
            self.store.put(&key, body, &options).await?;
            written.push(key);
        }
        Ok(written)
    }
}

/// Writes `records` to the dead letter, retrying every failure until it succeeds:
/// acknowledgement waits for it.
pub async fn write_durably(
    dead_letter: &Arc<dyn DeadLetter>,
    records: &[FailedRecord],
) -> Vec<String> {
    crate::retry::until_durable("dead-letter write", records.len(), || {
        dead_letter.write(records)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillway_formats::record::{ErrorOutputType, RecordMeta};

    #[tokio::test]
    async fn writes_firehose_error_records_under_the_error_output_type() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = PrefixTemplate::parse("errors/!{firehose:error-output-type}/").unwrap();
        let store = Arc::new(crate::store::LocalStore::new(
            dir.path().to_path_buf(),
            "LocalLake",
        ));
        let dl = ObjectDeadLetter::new(store, prefix, "s".into());
        let record = FailedRecord {
            data: bytes::Bytes::from_static(b"{not json"),
            meta: RecordMeta {
                shard: Arc::from("input.ndjson"),
                position: 42,
                sequence_number: None,
                sub_sequence: None,
                arrival_ms: 1_714_521_600_000,
                prior_attempts: 0,
            },
            error_type: ErrorOutputType::ProcessingFailed,
            error_code: "Decode.InvalidJson".into(),
            error_message: "record is not valid JSON".into(),
            attempts_made: 1,
            destination_fields: vec![("esIndexName", "idx".into())],
        };
        let written = dl.write(&[record]).await.unwrap();
        assert_eq!(written.len(), 1);
        assert!(
            written[0].starts_with("errors/processing-failed/s-1-"),
            "{}",
            written[0]
        );
        let text = std::fs::read_to_string(dir.path().join(&written[0])).unwrap();
        let doc: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(doc["errorCode"], "Decode.InvalidJson");
        assert_eq!(doc["sequenceNumber"], "42");
        assert_eq!(doc["arrivalTimestamp"], 1_714_521_600_000i64);
        assert_eq!(doc["esIndexName"], "idx");
        let parsed: ErrorRecord = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(parsed.raw_bytes().unwrap(), b"{not json");
    }
}
