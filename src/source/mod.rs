//! Sources: where records enter. Each produces chunks of [`Record`]s on a bounded channel, so
//! a full pipeline stops the source (back-pressure). The file source reads NDJSON files, a
//! folder, or stdin; the Kinesis source (its own issue) plugs in the same way.
//!
//! [`Record`]: spillway_formats::record::Record

pub mod file;
