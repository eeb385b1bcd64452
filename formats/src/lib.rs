//! Spillway's formats crate: the record model, decoders, schemas (Glue/Hive types ↔ Arrow),
//! encoders (Parquet, NDJSON) and compression codecs. Pure code: no async runtime, no AWS.
//!
//! # Layout
//! - [`record`]: `Record`, `RecordMeta`, `Batch`, `FailedRecord` — what flows through the pipeline.
//! - [`decode`]: record validation and field extraction for partitioning (`RecordDecoder`).
//! - [`prefix`]: Firehose prefix expressions (`!{timestamp:…}`, `!{partitionKeyFromQuery:…}`).
//! - [`schema`]: Hive/Glue type strings ↔ Arrow types, schema inference.
//! - [`encode`]: `Encoder` — batch → Parquet or NDJSON object bytes plus rejected records.
//! - [`compression`]: whole-object codecs (gzip, zstd, snappy).
//! - [`kpl`]: de-aggregation of Kinesis Producer Library aggregated records.
//! - [`value`]: how a JSON value becomes a column value or an event time (one set of rules).

pub mod compression;
pub mod decode;
pub mod encode;
pub mod kpl;
pub mod prefix;
pub mod record;
pub mod schema;
pub mod value;
