//! Spillway's sinks crate: where batches go. The [`Sink`] trait every destination implements,
//! the one retry policy they share, the dead letter, the shared I/O (AWS clients, object
//! stores, catalogs), and one folder per destination, each owning its config, its checks and
//! its `build()`.
//!
//! # Layout
//! - [`sink`]: `Sink`, `Delivery`, `SinkError` + `ErrorClass` (retryable or permanent?) and
//!   `ErrorKind` (what the caller does: not found, already exists).
//! - [`destination`]: what a destination is (`DestinationType`, `Destination`, `Built`);
//!   [`settings`]: config sections, sizes, durations, the shared delivery settings.
//! - [`retry`]: `RetryPolicy` (backoff with full jitter, time budget) and `RetryingSink`;
//!   [`circuit`]: the circuit breaker that pauses deliveries to a destination that is down.
//! - [`dead_letter`]: Firehose error-record JSON, written to any object store;
//!   [`backup`]: the source-record backup (every raw record, gzip NDJSON).
//! - [`aws`]: where AWS clients point, the shared SDK configuration, the clients, and SDK
//!   errors classified (used by sources and checkpoints too).
//! - [`store`]: `ObjectStore` — a local folder or an S3 bucket (multipart), one trait;
//!   [`catalog`]: the `Catalog` trait, Glue-shaped tables, the local and Glue catalogs.
//! - [`naming`]: Firehose object names; [`fs`]: staged local writes that appear by rename;
//!   [`redact`]: credentials in URLs masked wherever text leaves the process.
//! - The destinations, one folder each: [`object`] (local lake or S3: encode → store →
//!   catalog), [`opensearch`], [`dynamodb`], [`discard`].

pub mod aws;
pub mod backup;
pub mod catalog;
pub mod circuit;
pub mod dead_letter;
pub mod destination;
pub mod fs;
pub mod naming;
pub mod redact;
pub mod retry;
pub mod settings;
pub mod sink;
pub mod store;

pub use sink::{Delivery, ErrorClass, ErrorKind, FailedItem, Sink, SinkError};

/// Declares the destination folders and lists their types: adding a destination is its folder
/// and its name here.
macro_rules! destinations {
    ($($folder:ident),* $(,)?) => {
        $(pub mod $folder;)*

        /// Every destination type, from the folders above.
        pub fn destination_types() -> impl Iterator<Item = &'static destination::DestinationType> {
            [$($folder::TYPES),*].into_iter().flatten()
        }
    };
}

destinations!(object, opensearch, dynamodb, discard);
