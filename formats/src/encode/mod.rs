//! Encode: a closed [`Batch`] → the bytes of one object (Parquet, or NDJSON with a codec),
//! written straight to the sink's writer, plus the records that did not fit the format.
//! Sits between the batcher and a sink; CPU-bound, so callers run it off the async runtime.

mod dictionary;
mod json_columns;
mod ndjson;
mod normalize;
mod parquet;

use std::io::{self, Write};

use thiserror::Error;

use crate::record::{Batch, ErrorOutputType};

pub use self::ndjson::NdjsonEncoder;
pub use self::parquet::{schema_rejections, ParquetCompression, ParquetEncoder, SchemaSource};

/// A record the encoder could not convert; it goes to the dead letter, the rest is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the record in its batch.
    pub index: usize,
    pub error_type: ErrorOutputType,
    pub code: &'static str,
    pub message: String,
}

/// What an encode produced besides the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodeOutcome {
    /// Rows written. Zero means nothing worth keeping was written: discard the output.
    pub rows: usize,
    pub rejected: Vec<Rejection>,
}

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("writing the encoded object failed: {0}")]
    Io(#[from] io::Error),
    #[error("Parquet encoding failed: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),
    #[error("JSON to Arrow decoding failed: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("schema inference failed: {0}")]
    Schema(#[from] crate::schema::SchemaError),
}

/// Turns batches into objects of one format.
pub trait Encoder: Send + Sync {
    /// Encodes `batch` into `out`. Records that do not fit are reported, not written.
    fn encode(
        &self,
        batch: &Batch,
        out: &mut (dyn Write + Send),
    ) -> Result<EncodeOutcome, EncodeError>;
    /// Object-name extension, Firehose's: `.parquet`, or the codec's (`.gz`) for NDJSON.
    fn extension(&self) -> String;
    /// MIME type of the object.
    fn content_type(&self) -> &'static str;
    /// HTTP `Content-Encoding` when the whole object is compressed.
    fn content_encoding(&self) -> Option<&'static str>;
    /// The table schema the objects follow, when the format has one (Parquet), once known.
    fn table_schema(&self) -> Option<std::sync::Arc<crate::schema::TableSchema>> {
        None
    }
}
