//! The `Sink` trait: deliver one closed batch to a destination and say, per record, what
//! happened. Retries and dead-lettering wrap a sink (see `retry` and `dead_letter`); a sink
//! itself only reports and classifies.

use std::sync::Arc;

use async_trait::async_trait;
use spillway_formats::record::{Batch, ErrorOutputType};
use thiserror::Error;

/// Should the caller try again?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, connection errors, a full disk: worth retrying.
    Retryable,
    /// Bad request, access denied, missing bucket: retrying cannot help.
    Permanent,
}

/// What a failure means for the caller, beyond retrying (in the way of object_store's
/// error variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorKind {
    #[default]
    Other,
    /// The object, bucket or table is not there.
    NotFound,
    /// A create-if-absent found the key taken: an earlier write delivered it.
    AlreadyExists,
    /// The batch's fence no longer admits some of its records (their lease is lost): the
    /// write was abandoned before it was published; the rest are written again without them.
    Fenced,
}

/// A whole-request failure, classified by the sink that saw it.
#[derive(Clone, Debug, Error)]
#[error("{code}: {message}")]
pub struct SinkError {
    pub class: ErrorClass,
    pub kind: ErrorKind,
    /// Short code, e.g. `LocalLake.Io`, `S3.SlowDown`; counted in metrics.
    pub code: String,
    pub message: String,
}

impl SinkError {
    pub fn new(class: ErrorClass, code: impl Into<String>, message: impl Into<String>) -> Self {
        SinkError {
            class,
            kind: ErrorKind::Other,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        SinkError::new(ErrorClass::Retryable, code, message)
    }

    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        SinkError::new(ErrorClass::Permanent, code, message)
    }

    /// The same error, of `kind`.
    pub fn of_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

/// One record of a batch that was not delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedItem {
    /// Index of the record in the batch that was delivered.
    pub index: usize,
    pub class: ErrorClass,
    pub error_type: ErrorOutputType,
    pub code: String,
    pub message: String,
    /// Attempts made before giving up (filled in by the retrying wrapper).
    pub attempts: u32,
    /// Destination fields for the error record, e.g. `("esDocumentId", "…")`.
    pub destination_fields: Vec<(&'static str, String)>,
}

/// The outcome of delivering a batch: every record is either delivered, in `failed`, or (from
/// the retrying wrapper) in `fenced`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    pub failed: Vec<FailedItem>,
    /// Objects or documents written (keys, for logs and tests).
    pub objects: Vec<String>,
    /// Bytes written to the destination.
    pub bytes: u64,
    /// Records not written because their fence stopped admitting them: neither delivered
    /// nor failed, and not to be acknowledged (the worker that holds their lease now reads
    /// them again).
    pub fenced: Vec<usize>,
}

/// A destination.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Metric/log name of the destination, Firehose style: `S3`, `LocalLake`, `Elasticsearch`.
    fn name(&self) -> &'static str;

    /// The error-output type of records whose whole request failed (`s3-failed`, …).
    fn error_output_type(&self) -> ErrorOutputType;

    /// Delivers `batch`. `Err` means nothing was delivered; `Ok` lists per-record failures.
    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError>;
}
