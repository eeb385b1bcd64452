//! The dead letter: where records go that could not be delivered, in Firehose's error-record
//! JSON (one document per line), under an error prefix with `!{firehose:error-output-type}`.
//! A dead-letter write is retried until it succeeds ([`write_durably`]): the pipeline
//! acknowledges a record only once it is delivered or dead-lettered, so data is never dropped
//! to make progress.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use spillway_formats::prefix::{PrefixContext, PrefixTemplate};
use spillway_formats::record::{ErrorOutputType, FailedRecord};

use crate::naming::new_object_key;
use crate::sink::SinkError;
use crate::store::{ObjectStore, PutOptions};

/// Firehose's error-record document, as read and written (the field names on the wire
/// depend on the kind of failure: see [`WireErrorRecord`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "WireErrorRecord", into = "WireErrorRecord")]
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
    pub sub_sequence_number: Option<u32>,
    /// The shard (or input file) the record came from (ours; Firehose has no such field).
    pub shard_id: String,
    /// Format-conversion failures: the table the record was converted for.
    pub data_catalog_table: Option<DataCatalogTable>,
    /// Destination fields (`esDocumentId`, `esIndexName`, …).
    pub destination: BTreeMap<String, String>,
}

/// The `dataCatalogTable` of a format-conversion error record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataCatalogTable {
    pub catalog_id: Option<String>,
    pub database_name: Option<String>,
    pub table_name: Option<String>,
    pub region: Option<String>,
    pub version_id: Option<String>,
    pub catalog_arn: Option<String>,
}

/// An error record as Firehose spells it: `lastErrorCode`/`lastErrorMessage` with
/// `subSequenceNumber` and `dataCatalogTable` for a format-conversion failure, `errorCode`/
/// `errorMessage` for processing and delivery failures. Reading takes any of them (and the
/// `ErrorCode`/`ErrorMessage` of the current guide's schema), so every dead letter stays
/// redrivable whichever Spillway version or Firehose wrote it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireErrorRecord {
    attempts_made: u32,
    arrival_timestamp: i64,
    #[serde(default, alias = "ErrorCode", skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    #[serde(
        default,
        alias = "ErrorMessage",
        skip_serializing_if = "Option::is_none"
    )]
    error_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_error_message: Option<String>,
    attempt_ending_timestamp: i64,
    raw_data: String,
    #[serde(default)]
    sequence_number: String,
    /// Written for format-conversion failures always (null without one), else when present.
    #[serde(default, skip_serializing_if = "SubSequence::skip")]
    sub_sequence_number: SubSequence,
    #[serde(default)]
    shard_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data_catalog_table: Option<DataCatalogTable>,
    #[serde(flatten)]
    destination: BTreeMap<String, serde_json::Value>,
}

/// A sub-sequence number, and whether it is written when absent.
#[derive(Default, Serialize, Deserialize)]
#[serde(transparent)]
struct SubSequence(Option<u32>, #[serde(skip)] bool);

impl SubSequence {
    fn skip(&self) -> bool {
        self.0.is_none() && !self.1
    }
}

impl From<WireErrorRecord> for ErrorRecord {
    fn from(w: WireErrorRecord) -> Self {
        ErrorRecord {
            attempts_made: w.attempts_made,
            arrival_timestamp: w.arrival_timestamp,
            error_code: w.last_error_code.or(w.error_code).unwrap_or_default(),
            error_message: w.last_error_message.or(w.error_message).unwrap_or_default(),
            attempt_ending_timestamp: w.attempt_ending_timestamp,
            raw_data: w.raw_data,
            sequence_number: w.sequence_number,
            sub_sequence_number: w.sub_sequence_number.0,
            shard_id: w.shard_id,
            data_catalog_table: w.data_catalog_table,
            destination: (w.destination.into_iter())
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
                .collect(),
        }
    }
}

impl From<ErrorRecord> for WireErrorRecord {
    fn from(r: ErrorRecord) -> Self {
        let conversion = r.data_catalog_table.is_some();
        let (code, message) = (Some(r.error_code), Some(r.error_message));
        WireErrorRecord {
            attempts_made: r.attempts_made,
            arrival_timestamp: r.arrival_timestamp,
            error_code: if conversion { None } else { code.clone() },
            error_message: if conversion { None } else { message.clone() },
            last_error_code: if conversion { code } else { None },
            last_error_message: if conversion { message } else { None },
            attempt_ending_timestamp: r.attempt_ending_timestamp,
            raw_data: r.raw_data,
            sequence_number: r.sequence_number,
            sub_sequence_number: SubSequence(r.sub_sequence_number, conversion),
            shard_id: r.shard_id,
            data_catalog_table: r.data_catalog_table,
            destination: (r.destination.into_iter())
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        }
    }
}

impl ErrorRecord {
    /// The error record of `record`, whose last attempt ended at `ending_ms`; `table` is the
    /// catalog table a format-conversion failure names.
    pub fn from_failed(record: &FailedRecord, ending_ms: i64, table: &DataCatalogTable) -> Self {
        let conversion = record.error_type == ErrorOutputType::FormatConversionFailed;
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
            data_catalog_table: conversion.then(|| table.clone()),
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
    /// Named in format-conversion error records.
    table: DataCatalogTable,
}

impl ObjectDeadLetter {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: PrefixTemplate, stream: String) -> Self {
        ObjectDeadLetter {
            store,
            prefix,
            stream,
            table: DataCatalogTable::default(),
        }
    }

    /// The same dead letter, naming `table` in format-conversion error records.
    pub fn with_table(mut self, table: DataCatalogTable) -> Self {
        self.table = table;
        self
    }
}

#[async_trait]
impl DeadLetter for ObjectDeadLetter {
    /// One object per error-output type, its prefix (and name) timestamped, as Firehose does,
    /// with the arrival time of its oldest record.
    async fn write(&self, records: &[FailedRecord]) -> Result<Vec<String>, SinkError> {
        let now = Utc::now().timestamp_millis();
        let mut by_type: BTreeMap<&'static str, (i64, Vec<u8>)> = BTreeMap::new();
        for record in records {
            let line = serde_json::to_vec(&ErrorRecord::from_failed(record, now, &self.table))
                .map_err(|e| SinkError::permanent("DeadLetter.Json", e.to_string()))?;
            let (oldest, body) = by_type
                .entry(record.error_type.as_str())
                .or_insert((i64::MAX, Vec::new()));
            *oldest = (*oldest).min(record.meta.arrival_ms);
            body.extend_from_slice(&line);
            body.push(b'\n');
        }
        let options = PutOptions {
            content_type: "application/x-ndjson",
            content_encoding: None,
            ..PutOptions::default()
        };
        let mut written = Vec::new();
        for (error_type, (oldest, body)) in by_type {
            let ctx = PrefixContext {
                timestamp: DateTime::<Utc>::from_timestamp_millis(oldest).unwrap_or_default(),
                partition_keys: &[],
                error_output_type: Some(error_type),
            };
            let prefix = self
                .prefix
                .evaluate(&ctx)
                .map_err(|e| SinkError::permanent("DeadLetter.Prefix", e.to_string()))?;
            let zone = self.prefix.zone();
            let key = new_object_key(&prefix, &self.stream, oldest, ".json", zone);
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
    use spillway_formats::record::RecordMeta;

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

    fn failed(error_type: ErrorOutputType) -> FailedRecord {
        FailedRecord {
            data: bytes::Bytes::from_static(b"{\"n\":1.5}"),
            meta: RecordMeta::at(Arc::from("f"), 9, 1_000),
            error_type,
            error_code: "Format.SchemaMismatch".into(),
            error_message: "does not fit".into(),
            attempts_made: 1,
            destination_fields: Vec::new(),
        }
    }

    #[test]
    fn each_kind_of_error_record_uses_firehoses_field_names() {
        let table = DataCatalogTable {
            database_name: Some("db".into()),
            table_name: Some("events".into()),
            version_id: Some("LATEST".into()),
            ..DataCatalogTable::default()
        };
        let conversion = ErrorRecord::from_failed(
            &failed(ErrorOutputType::FormatConversionFailed),
            2_000,
            &table,
        );
        let doc = serde_json::to_value(&conversion).unwrap();
        assert_eq!(doc["lastErrorCode"], "Format.SchemaMismatch");
        assert_eq!(doc["lastErrorMessage"], "does not fit");
        assert!(doc.get("errorCode").is_none() && doc.get("errorMessage").is_none());
        assert!(doc["subSequenceNumber"].is_null(), "written, null: {doc}");
        assert_eq!(doc["dataCatalogTable"]["databaseName"], "db");
        assert_eq!(doc["dataCatalogTable"]["versionId"], "LATEST");
        let back: ErrorRecord = serde_json::from_value(doc).unwrap();
        assert_eq!(back, conversion);

        let processing =
            ErrorRecord::from_failed(&failed(ErrorOutputType::ProcessingFailed), 2_000, &table);
        let doc = serde_json::to_value(&processing).unwrap();
        assert_eq!(doc["errorCode"], "Format.SchemaMismatch");
        assert!(doc.get("lastErrorCode").is_none() && doc.get("dataCatalogTable").is_none());
        assert!(doc.get("subSequenceNumber").is_none());

        // The current guide's capitalised names are read too.
        let guide = r#"{"attemptsMade":2,"arrivalTimestamp":1,"ErrorCode":"X","ErrorMessage":"m","attemptEndingTimestamp":3,"rawData":"e30=","sequenceNumber":"7","subSequenceNumber":0,"dataCatalogTable":{"databaseName":"d"}}"#;
        let read: ErrorRecord = serde_json::from_str(guide).unwrap();
        assert_eq!(
            (read.error_code.as_str(), read.error_message.as_str()),
            ("X", "m")
        );
        assert_eq!(read.sub_sequence_number, Some(0));
    }
}
