//! Delivery-stream configuration: one TOML file per stream (source, processing, destination
//! with its delivery settings, dead letter). [`load`] reads and interpolates `${VAR}` /
//! `${VAR:-default}`, [`validate()`] turns the raw types into a [`ValidatedConfig`] or a list of
//! problems each naming its key. Nothing is built before validation passes.
//!
//! The `source` and `destination` sections are read by their own types — each source and
//! destination folder reads its section (`crate::source::source_types`,
//! `spillway_sinks::destination_types`) — so this module holds only what every stream has.

mod load;
mod validate;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use self::load::{load, load_str, ConfigError};
pub use self::validate::{validate, DeadLetterTarget, ValidatedConfig};
pub use spillway_sinks::settings::{ConfigProblem, HumanDuration, HumanSize};

/// One delivery stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Delivery-stream name; the first part of every object name and the metrics label.
    pub name: String,
    /// Where records come from: `type` names the source, the rest is its own.
    pub source: toml::Value,
    #[serde(default)]
    pub processing: ProcessingConfig,
    /// Where batches go: `type` names the destination; its own keys and the delivery settings
    /// every destination shares (`spillway_sinks::settings::DeliveryConfig`).
    pub destination: toml::Value,
    #[serde(default)]
    pub dead_letter: Option<DeadLetterConfig>,
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// After SIGTERM/SIGINT: how long flushing buffers, finishing deliveries and writing the
    /// final checkpoint may take. Past it the process writes the checkpoint of what is
    /// acknowledged and exits (code 1); records still in flight are read again by the next
    /// run, so nothing is lost. Set Kubernetes' terminationGracePeriodSeconds above it.
    #[serde(default = "defaults::shutdown_timeout")]
    pub shutdown_timeout: HumanDuration,
}

/// Per-record processing before buffering.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingConfig {
    /// Records above this size go to the dead letter as `processing-failed` (Firehose: 1 MiB).
    #[serde(default = "defaults::max_record_size")]
    pub max_record_size: HumanSize,
    /// Field holding the event time for `!{timestamp:…}` (jq-like path such as `.ts`);
    /// ISO-8601 text or epoch seconds/millis. Absent: arrival time, as Firehose does.
    #[serde(default)]
    pub time_field: Option<String>,
    /// `!{partitionKeyFromQuery:NAME}` keys: NAME = jq-like path, e.g. `country = ".geo.country"`.
    #[serde(default)]
    pub partition_keys: BTreeMap<String, String>,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        ProcessingConfig {
            max_record_size: defaults::max_record_size(),
            time_field: None,
            partition_keys: BTreeMap::new(),
        }
    }
}

/// Where records that cannot be delivered go; default: the destination itself (the lake
/// folder or the bucket), under `destination.error_output_prefix`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// `local` (a folder, `path`) or `s3` (a bucket, `bucket`).
    #[serde(rename = "type")]
    pub kind: DeadLetterKind,
    /// Root folder of a local dead letter.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Bucket of an S3 dead letter; reached with the destination's AWS settings (or the SDK
    /// chain for a destination without them).
    #[serde(default)]
    pub bucket: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeadLetterKind {
    Local,
    S3,
}

/// The Prometheus endpoint.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address for `/metrics`, `/healthz` and `/readyz`, e.g. `127.0.0.1:9108`. Off for `run`
    /// unless set; `serve` defaults to `0.0.0.0:9108`.
    #[serde(default)]
    pub listen: Option<String>,
}

mod defaults {
    use super::{HumanDuration, HumanSize};

    pub fn max_record_size() -> HumanSize {
        HumanSize(1 << 20)
    }
    pub fn shutdown_timeout() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
}
