//! Spillway: a self-hosted delivery service in the shape of Amazon Kinesis Data Firehose.
//! It reads records, buffers them by size and time, converts and compresses them, and loads
//! them into destinations with retries and a dead letter.
//!
//! # Layout
//! - [`config`]: the delivery-stream config file, interpolation and validation.
//! - [`source`]: where records enter (files and stdin; Kinesis plugs in here).
//! - [`pipeline`]: partitioner, batcher with its flush policy, delivery stage.
//! - [`checkpoint`]: the checkpoint tracker and stores.
//! - [`metrics`]: Firehose-named metrics and the Prometheus endpoint.
//! - [`app`]: wiring and ordered shutdown.
//! - [`host`]: the host name this process is known by.
//!
//! The record model, schemas and encoders live in `spillway-formats`; the `Sink` trait, retry
//! policy, dead letter and destinations in `spillway-sinks`.

pub mod allocator;
pub mod app;
pub mod checkpoint;
pub mod config;
pub mod host;
pub mod metrics;
pub mod pipeline;
pub mod source;
