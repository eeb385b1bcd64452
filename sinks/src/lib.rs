//! Spillway's sinks crate: where batches go. The [`Sink`] trait every destination implements,
//! the one retry policy they share, the dead letter, and one folder per destination.
//!
//! # Layout
//! - [`sink`]: `Sink`, `Delivery`, `SinkError` + `ErrorClass` (retryable or permanent?).
//! - [`retry`]: `RetryPolicy` (backoff with full jitter, time budget) and `RetryingSink`.
//! - [`circuit`]: the circuit breaker that pauses deliveries to a destination that is down.
//! - [`dead_letter`]: Firehose error-record JSON, written to any object store.
//! - [`naming`]: Firehose object names, shared by every object-store destination.
//! - [`fs`]: staged local writes that appear by rename, so readers never see half a file.
//! - [`store`]: `ObjectStore` — a local folder or an S3 bucket, written through one trait.
//! - [`object`]: the object destination (local lake or S3): encode → store → catalog.
//! - [`catalog`]: the `Catalog` trait and Glue-shaped table definitions;
//!   [`local_catalog`] writes them as files, [`s3::glue`] through the Glue API.
//! - [`s3`]: the S3 store (multipart streaming uploads) and the Glue catalog.
//! - [`backup`]: the source-record backup (every raw record, gzip NDJSON).
//! - [`dynamodb`]: the DynamoDB destination; [`opensearch`]: the OpenSearch/Elasticsearch one.
//! - [`redact`]: credentials in URLs masked wherever text leaves the process.

pub mod aws;
pub mod backup;
pub mod catalog;
pub mod circuit;
pub mod dead_letter;
pub mod dynamodb;
pub mod fs;
pub mod local_catalog;
pub mod naming;
pub mod object;
pub mod opensearch;
pub mod redact;
pub mod retry;
pub mod s3;
pub mod sink;
pub mod store;

pub use sink::{Delivery, ErrorClass, FailedItem, Sink, SinkError};
