//! The object sink: each batch becomes one object, `<evaluated prefix><Firehose object
//! name>`, encoded straight into an [`ObjectStore`] writer on the blocking pool, published only
//! when complete; then, back on the runtime, its partition is registered in the catalog.
//!
//! A batch with a fence (records under Kinesis leases) guards its object: the store asks the
//! fence before each part it sends and right before it publishes, so a lease lost mid-write
//! abandons the object (an S3 multipart upload is aborted, never completed) and the retrying
//! wrapper writes the batch again without the fenced records.

use std::sync::Arc;

use async_trait::async_trait;
use spillway_formats::encode::{EncodeError, EncodeOutcome, Encoder};
use spillway_formats::prefix::fill_random_strings;
use spillway_formats::record::{Batch, ErrorOutputType};

use crate::catalog::Catalog;
use crate::naming::{object_name, random_object_id, segment_object_id, ObjectNaming};
use crate::sink::{Delivery, ErrorClass, FailedItem, Sink, SinkError};
use crate::sink::ErrorKind;
use crate::store::{from_io, ObjectStore, PutOptions, WriteGuard};

/// Firehose's limit on an evaluated prefix.
pub const MAX_PREFIX_CHARS: usize = 512;

pub struct ObjectSink {
    inner: Arc<ObjectSinkInner>,
}

/// The blocking half: encodes and publishes objects (run on the blocking pool).
struct ObjectSinkInner {
    store: Arc<dyn ObjectStore>,
    naming: ObjectNaming,
    encoder: Arc<dyn Encoder>,
    catalog: Option<Arc<dyn Catalog>>,
}

/// What one delivered object amounted to.
struct Written {
    /// The object and its evaluated prefix (its partition); `None` when no row was written.
    key: Option<(String, String)>,
    outcome: EncodeOutcome,
    bytes: u64,
}

/// Why an object was not written.
enum WriteFailure {
    /// The store failed (classified, retried by the caller).
    Store(SinkError),
    /// The batch cannot be converted as a whole (e.g. no record is a JSON object).
    Encode(EncodeError),
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
    fn write_object(&self, batch: &Arc<Batch>) -> Result<Written, WriteFailure> {
        let prefix = fill_random_strings(batch.key.prefix());
        if prefix.chars().count() > MAX_PREFIX_CHARS {
            return Err(WriteFailure::Store(SinkError::permanent(
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
            guard: fence_guard(batch),
        };
        let mut writer = self
            .store
            .writer(&key, &options)
            .map_err(WriteFailure::Store)?;
        let outcome = match self.encoder.encode(batch, &mut writer) {
            Ok(outcome) => outcome,
            Err(EncodeError::Io(e)) => {
                writer.abort();
                let url = self.store.url(&key);
                return Err(WriteFailure::Store(from_io(e, &format!("writing {url}"))));
            }
            Err(e) => {
                writer.abort();
                return Err(WriteFailure::Encode(e));
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
            Err(e) if e.kind == ErrorKind::AlreadyExists => {
                tracing::info!(object = %self.store.url(&key), "already delivered by an earlier run; left as it is");
                0
            }
            Err(e) => return Err(WriteFailure::Store(e)),
        };
        Ok(Written {
            key: Some((key, prefix)),
            outcome,
            bytes,
        })
    }

    /// Registers the partition of an object that is durable. A failure is logged and retried
    /// with the next object: re-delivering the batch would write its records twice.
    async fn register(&self, key: &str, prefix: &str) {
        let (Some(catalog), Some(schema)) = (&self.catalog, self.encoder.table_schema()) else {
            return;
        };
        if let Err(e) = catalog.register(&schema, prefix).await {
            tracing::error!(error = %e, object = %key, "cannot register the partition in the catalog; will retry with the next object");
        }
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
        if let Ok(Written {
            key: Some((key, prefix)),
            ..
        }) = &result
        {
            self.inner.register(key, prefix).await;
        }
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
                objects: written.key.into_iter().map(|(key, _)| key).collect(),
                bytes: written.bytes,
                fenced: Vec::new(),
            }),
            Err(WriteFailure::Store(e)) => Err(e),
            Err(WriteFailure::Encode(encode_error)) => Ok(Delivery {
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

/// A guard that fails once `batch`'s fence refuses any of its records.
fn fence_guard(batch: &Arc<Batch>) -> Option<WriteGuard> {
    batch.fence.as_ref()?;
    let batch = batch.clone();
    Some(WriteGuard(Arc::new(move || {
        let fenced = batch.fenced_out().len();
        if fenced == 0 {
            return Ok(());
        }
        Err(SinkError::retryable(
            "Lease.Lost",
            format!("{fenced} records of this batch are under a lease this worker lost; the object is abandoned unpublished"),
        )
        .of_kind(ErrorKind::Fenced))
    })))
}

