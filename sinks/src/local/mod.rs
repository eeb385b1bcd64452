//! The local data lake destination: each batch becomes one object under the lake root,
//! `<evaluated prefix><Firehose object name>`, written to a staged temp file and renamed into
//! place; then its partition is registered in the local catalog. The local stand-in for S3,
//! and the embedded default.

mod catalog;
mod config;

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use spillway_formats::encode::{EncodeError, EncodeOutcome, Encoder};
use spillway_formats::prefix::{fill_random_string, random_string};
use spillway_formats::record::{Batch, ErrorOutputType};

pub use self::catalog::{LocalCatalog, CATALOG_DIR};
pub use self::config::{CatalogTarget, LocalLakeOptions};
use crate::fs::write_atomically;
use crate::naming::{object_name, random_object_id};
use crate::sink::{Delivery, ErrorClass, FailedItem, Sink, SinkError};

pub struct LocalLakeSink {
    writer: Arc<LakeWriter>,
}

/// The blocking half: encodes and publishes objects (run on the blocking pool).
struct LakeWriter {
    options: LocalLakeOptions,
    encoder: Arc<dyn Encoder>,
    catalog: Option<LocalCatalog>,
}

impl LocalLakeSink {
    /// Creates the lake root and removes temp files a crash left behind.
    pub fn new(options: LocalLakeOptions, encoder: Arc<dyn Encoder>) -> io::Result<Self> {
        std::fs::create_dir_all(&options.root)?;
        let swept = crate::fs::sweep_stale_temp_files(&options.root)?;
        if swept > 0 {
            tracing::info!(files = swept, root = %options.root.display(), "removed temp files left by an earlier crash");
        }
        let catalog = options
            .catalog
            .clone()
            .map(|target| LocalCatalog::new(&options.root, options.prefix.clone(), target));
        let writer = Arc::new(LakeWriter {
            options,
            encoder,
            catalog,
        });
        Ok(LocalLakeSink { writer })
    }
}

impl LakeWriter {
    /// Encodes and publishes one object; returns its key (None when no row was worth writing).
    fn write_object(
        &self,
        batch: &Batch,
    ) -> Result<(Option<String>, EncodeOutcome, u64), WriteError> {
        let prefix = fill_random_string(batch.key.prefix(), &random_string());
        let name = object_name(
            &self.options.stream_name,
            batch.first_arrival_ms,
            &random_object_id(),
            &self.encoder.extension(),
        );
        let key = format!("{prefix}{name}");
        let path = self.options.root.join(&key);
        let mut outcome = None;
        let mut encode_error = None;
        let published = write_atomically(&path, |w| match self.encoder.encode(batch, w) {
            Ok(o) => {
                let keep = o.rows > 0;
                outcome = Some(o);
                Ok(keep)
            }
            Err(EncodeError::Io(e)) => Err(e),
            Err(e) => {
                encode_error = Some(e);
                Ok(false)
            }
        });
        if let Some(e) = encode_error {
            return Err(WriteError::Encode(e));
        }
        let published = published.map_err(|e| WriteError::Io(key.clone(), e))?;
        let outcome = outcome.unwrap_or_default();
        if !published {
            return Ok((None, outcome, 0));
        }
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // The object is durable and stays delivered; a catalog failure is retried with the
        // next object (re-delivering the batch would write the records twice).
        if let (Some(catalog), Some(schema)) = (&self.catalog, self.encoder.table_schema()) {
            if let Err(e) = catalog.register(&schema.columns(), &prefix) {
                tracing::error!(error = %e, object = %key, "cannot register the partition in the local catalog; will retry with the next object");
            }
        }
        Ok((Some(key), outcome, bytes))
    }
}

enum WriteError {
    Encode(EncodeError),
    Io(String, io::Error),
}

/// Disk full and most I/O errors may pass; permission problems will not.
fn classify_io(e: &io::Error) -> ErrorClass {
    match e.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            ErrorClass::Permanent
        }
        _ => ErrorClass::Retryable,
    }
}

#[async_trait]
impl Sink for LocalLakeSink {
    fn name(&self) -> &'static str {
        "LocalLake"
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        let writer = self.writer.clone();
        let written = tokio::task::spawn_blocking(move || {
            let result = writer.write_object(&batch);
            (batch, result)
        })
        .await
        .map_err(|e| SinkError::retryable("LocalLake.Task", e.to_string()))?;
        let (batch, result) = written;
        match result {
            Ok((key, outcome, bytes)) => {
                let failed: Vec<FailedItem> = outcome
                    .rejected
                    .into_iter()
                    .map(|r| FailedItem {
                        index: r.index,
                        class: ErrorClass::Permanent,
                        error_type: r.error_type,
                        code: r.code.to_string(),
                        message: r.message,
                        attempts: 1,
                    })
                    .collect();
                Ok(Delivery {
                    delivered: outcome.rows,
                    failed,
                    objects: key.into_iter().collect(),
                    bytes,
                })
            }
            // The batch cannot be converted as a whole (e.g. no record is a JSON object).
            Err(WriteError::Encode(e)) => Ok(Delivery {
                failed: (0..batch.len())
                    .map(|index| FailedItem {
                        index,
                        class: ErrorClass::Permanent,
                        error_type: ErrorOutputType::FormatConversionFailed,
                        code: "Format.EncodeFailed".into(),
                        message: e.to_string(),
                        attempts: 1,
                    })
                    .collect(),
                ..Delivery::default()
            }),
            Err(WriteError::Io(key, e)) => Err(SinkError {
                class: classify_io(&e),
                code: "LocalLake.Io".into(),
                message: format!(
                    "writing {key} under {}: {e}",
                    self.writer.options.root.display()
                ),
            }),
        }
    }
}
