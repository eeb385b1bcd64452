//! Spillway's sinks crate: where batches go. The [`Sink`] trait every destination implements,
//! the one retry policy they share, the dead letter, and one folder per destination.
//!
//! # Layout
//! - [`sink`]: `Sink`, `Delivery`, `SinkError` + `ErrorClass` (retryable or permanent?).
//! - [`retry`]: `RetryPolicy` (backoff with full jitter, time budget) and `RetryingSink`.
//! - [`dead_letter`]: Firehose error-record JSON and the local dead-letter writer.
//! - [`naming`]: Firehose object names, shared by every object-store destination.
//! - [`fs`]: staged writes that appear by rename, so readers never see half a file.
//! - [`local`]: the local data lake destination and its Glue-style file catalog.

pub mod catalog;
pub mod dead_letter;
pub mod fs;
pub mod local;
pub mod naming;
pub mod retry;
pub mod sink;

pub use sink::{Delivery, ErrorClass, FailedItem, Sink, SinkError};
