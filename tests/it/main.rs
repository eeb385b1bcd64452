//! The integration tests, in one binary (one link of the AWS SDK instead of one per file):
//! each module tests one concern against the real services the testbed starts
//! (`scripts/testbed`), through the `spillway` binary as a user runs it where that is the
//! point. `support` is the shared tooling. (`tests/s3_multipart_memory.rs` stays a binary
//! of its own: it counts allocations with a global allocator, which would count every other
//! test's too.)

mod support;

mod config_errors;
mod container;
mod crash_recovery;
mod deploy_manifests;
mod discard;
mod disk_full;
mod dynamodb;
mod embedded_default;
mod firehose_fidelity;
mod flush_triggers;
mod hostile_input;
mod kinesis;
mod lease_table;
mod many_partitions;
mod ndjson_stdin;
mod opensearch;
mod replay;
mod s3_glue;
mod serve_metrics;
mod storm;
