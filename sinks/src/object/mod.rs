//! The object destination: each batch becomes one object, `<evaluated prefix><Firehose object
//! name>`, encoded straight into an [`ObjectStore`] writer (a local lake or an S3 bucket),
//! published only when complete; then its partition is registered in the catalog, if any.

use std::sync::Arc;

use async_trait::async_trait;
use spillway_formats::encode::{EncodeError, EncodeOutcome, Encoder};
use spillway_formats::prefix::fill_random_strings;
use spillway_formats::record::{Batch, ErrorOutputType};

use crate::catalog::Catalog;
use crate::naming::{object_name, random_object_id, segment_object_id, ObjectNaming};
use crate::sink::{Delivery, ErrorClass, FailedItem, Sink, SinkError};
use crate::store::{from_io, ObjectStore, PutOptions, ALREADY_EXISTS};

/// Firehose's limit on an evaluated prefix.
pub const MAX_PREFIX_CHARS: usize = 512;

pub struct ObjectSink {
    inner: Arc<ObjectSinkInner>,
}

/// The blocking half: encodes, publishes and registers objects (run on the blocking pool).
struct ObjectSinkInner {
    store: Arc<dyn ObjectStore>,
    naming: ObjectNaming,
    encoder: Arc<dyn Encoder>,
    catalog: Option<Arc<dyn Catalog>>,
}

/// What one delivered object amounted to.
struct Written {
    key: Option<String>,
    outcome: EncodeOutcome,
    bytes: u64,
}

impl ObjectSink {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        naming: ObjectNaming,
        encoder: Arc<dyn Encoder>,
        catalog: Option<Arc<dyn Catalog>>,
    ) -> Self {
        let inner = ObjectSinkInner {
            store,
            naming,
            encoder,
            catalog,
        };
        ObjectSink {
            inner: Arc::new(inner),
        }
    }
}

impl ObjectSinkInner {
    fn write_object(&self, batch: &Batch) -> Result<Written, Result<SinkError, EncodeError>> {
        let prefix = fill_random_strings(batch.key.prefix());
        if prefix.chars().count() > MAX_PREFIX_CHARS {
            return Err(Ok(SinkError::permanent(
                "Prefix.TooLong",
                format!("evaluated prefix is {} characters, above Firehose's {MAX_PREFIX_CHARS}: {prefix}", prefix.chars().count()),
            )));
        }
        // exactly_once: the segment names the object, and a re-read that rebuilds it finds
        // the key taken and leaves the first copy (the records are a subset of its records).
        let (time_ms, id) = match &batch.segment {
            Some(segment) => (
                segment.first_arrival_ms,
                segment_object_id(segment, &prefix),
            ),
            None => (batch.first_arrival_ms, random_object_id()),
        };
        let naming = &self.naming;
        let extension = (naming.extension.clone()).unwrap_or_else(|| self.encoder.extension());
        let name = object_name(&naming.stream, time_ms, &id, &extension, &naming.zone);
        let key = format!("{prefix}{name}");
        let options = PutOptions {
            content_type: self.encoder.content_type(),
            content_encoding: self.encoder.content_encoding(),
            if_absent: batch.segment.is_some(),
        };
        let mut writer = self.store.writer(&key, &options).map_err(Ok)?;
        let outcome = match self.encoder.encode(batch, &mut writer) {
            Ok(outcome) => outcome,
            Err(EncodeError::Io(e)) => {
                writer.abort();
                return Err(Ok(from_io(e, &format!("writing {}", self.store.url(&key)))));
            }
            Err(e) => {
                writer.abort();
                return Err(Err(e));
            }
        };
        if outcome.rows == 0 {
            writer.abort();
            return Ok(Written {
                key: None,
                outcome,
                bytes: 0,
            });
        }
        let bytes = match writer.finish() {
            Ok(bytes) => bytes,
            Err(e) if e.code == ALREADY_EXISTS => {
                tracing::info!(object = %self.store.url(&key), "already delivered by an earlier run; left as it is");
                0
            }
            Err(e) => return Err(Ok(e)),
        };
        // The object is durable and stays delivered; a catalog failure is retried with the
        // next object (re-delivering the batch would write the records twice).
        if let (Some(catalog), Some(schema)) = (&self.catalog, self.encoder.table_schema()) {
            if let Err(e) = catalog.register(&schema, &prefix) {
                tracing::error!(error = %e, object = %key, "cannot register the partition in the catalog; will retry with the next object");
            }
        }
        Ok(Written {
            key: Some(key),
            outcome,
            bytes,
        })
    }
}

#[async_trait]
impl Sink for ObjectSink {
    fn name(&self) -> &'static str {
        self.inner.store.destination_name()
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::S3Failed
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        let inner = self.inner.clone();
        let records = batch.len();
        let result = tokio::task::spawn_blocking(move || inner.write_object(&batch))
            .await
            .map_err(|e| SinkError::retryable("Object.Task", e.to_string()))?;
        match result {
            Ok(written) => Ok(Delivery {
                delivered: written.outcome.rows,
                failed: written
                    .outcome
                    .rejected
                    .into_iter()
                    .map(|r| FailedItem {
                        index: r.index,
                        class: ErrorClass::Permanent,
                        error_type: r.error_type,
                        code: r.code.to_string(),
                        message: r.message,
                        attempts: 1,
                        destination_fields: Vec::new(),
                    })
                    .collect(),
                objects: written.key.into_iter().collect(),
                bytes: written.bytes,
            }),
            Err(Ok(sink_error)) => Err(sink_error),
            // The batch cannot be converted as a whole (e.g. no record is a JSON object).
            Err(Err(encode_error)) => Ok(Delivery {
                failed: (0..records)
                    .map(|index| FailedItem {
                        index,
                        class: ErrorClass::Permanent,
                        error_type: ErrorOutputType::FormatConversionFailed,
                        code: "Format.EncodeFailed".into(),
                        message: encode_error.to_string(),
                        attempts: 1,
                        destination_fields: Vec::new(),
                    })
                    .collect(),
                ..Delivery::default()
            }),
        }
    }
}
