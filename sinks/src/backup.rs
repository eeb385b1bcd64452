//! The source-record backup (Firehose's "S3 backup mode: all records"): every raw record of
//! every batch, as gzip NDJSON under a backup prefix, so that any destination can be rebuilt
//! from day zero. Written beside delivery; like the dead letter, it is retried until durable
//! before the batch is acknowledged.

use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use spillway_formats::compression::Codec;
use spillway_formats::prefix::{PrefixContext, PrefixTemplate};
use spillway_formats::record::Batch;

use crate::naming::new_object_key;
use crate::sink::SinkError;
use crate::store::{ObjectStore, PutOptions};

pub struct SourceBackup {
    store: Arc<dyn ObjectStore>,
    prefix: PrefixTemplate,
    stream: String,
}

impl SourceBackup {
    pub fn new(store: Arc<dyn ObjectStore>, prefix: PrefixTemplate, stream: String) -> Self {
        SourceBackup {
            store,
            prefix,
            stream,
        }
    }

    /// Writes the batch's raw records; returns the object key.
    pub async fn write(&self, batch: &Batch) -> Result<String, SinkError> {
        let arrival =
            DateTime::<Utc>::from_timestamp_millis(batch.first_arrival_ms).unwrap_or_default();
        let ctx = PrefixContext {
            timestamp: arrival,
            partition_keys: &[],
            error_output_type: None,
        };
        let prefix = self
            .prefix
            .evaluate(&ctx)
            .map_err(|e| SinkError::permanent("Backup.Prefix", e.to_string()))?;
        let mut gz = Codec::Gzip
            .writer(Vec::with_capacity(batch.data.len() / 4), Some(1))
            .map_err(|e| SinkError::permanent("Backup.Gzip", e.to_string()))?;
        gz.write_all(&batch.data)
            .map_err(|e| SinkError::permanent("Backup.Gzip", e.to_string()))?;
        let body = gz
            .finish()
            .map_err(|e| SinkError::permanent("Backup.Gzip", e.to_string()))?;
        let zone = self.prefix.zone();
        let key = new_object_key(
            &prefix,
            &self.stream,
            batch.first_arrival_ms,
            ".json.gz",
            zone,
        );
        let options = PutOptions {
            content_type: "application/x-ndjson",
            content_encoding: Some("gzip"),
            ..PutOptions::default()
        };
        self.store.put(&key, body, &options).await?;
        Ok(key)
    }
}

/// Writes the backup, retrying every failure until it succeeds.
pub async fn write_durably(backup: &SourceBackup, batch: &Batch) -> String {
    crate::retry::until_durable("source-record backup", batch.len(), || backup.write(batch)).await
}
