//! Validation: raw config → [`ValidatedConfig`], with every problem collected and named by
//! its key. The source and destination sections are read by their own types (found by
//! `type` among `source::source_types()` and `spillway_sinks::destination_types()`); the
//! delivery settings every destination shares are read and checked here once
//! ([`delivery`]). Limits are Firehose's where Firehose has one (buffer 1–128 MiB, interval
//! 0–900 s, retry 0–7200 s, stream names `[A-Za-z0-9_.-]{1,64}`).

mod delivery;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use spillway_formats::decode::{FieldPath, RecordDecoder};
use spillway_formats::prefix::{NameRule, PrefixTemplate};
use spillway_sinks::destination::{Destination, ReadContext};
use spillway_sinks::naming::ObjectNaming;
use spillway_sinks::retry::RetryPolicy;
use spillway_sinks::settings::{
    check_folder, field_names, read_section, refuse_unknown_keys, ConfigProblem, DeliveryConfig,
    Problems,
};

use super::{Config, DeadLetterConfig, DeadLetterKind, ProcessingConfig};
use crate::pipeline::FlushPolicy;
use crate::source::{Source, SourceContext};

const MIB: u64 = 1 << 20;

/// A config that passed validation: every value parsed and in range.
#[derive(Debug)]
pub struct ValidatedConfig {
    pub name: String,
    pub source: Box<dyn Source>,
    pub decoder: RecordDecoder,
    /// The evaluated-prefix template: an object prefix, an index or a table name.
    pub prefix: PrefixTemplate,
    /// What the evaluated prefix names (an object key, an index, a table), and so its rule.
    pub name_rule: NameRule,
    pub error_prefix: PrefixTemplate,
    pub destination: Box<dyn Destination>,
    pub retry: RetryPolicy,
    pub concurrency: usize,
    pub flush: FlushPolicy,
    pub dead_letter: DeadLetterTarget,
    /// Prefix of the source-record backup, when kept.
    pub backup_prefix: Option<PrefixTemplate>,
    pub metrics_listen: Option<SocketAddr>,
    /// How long an ordered shutdown may take before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// Effectively-once objects (object destinations): segment batching, keys from source
    /// positions, create-if-absent.
    pub exactly_once: bool,
    /// How objects are named (stream, Firehose's `FileExtension`, `CustomTimeZone`).
    pub naming: ObjectNaming,
}

/// Where dead letters go (under `error_prefix`).
#[derive(Debug, PartialEq, Eq)]
pub enum DeadLetterTarget {
    /// The destination's own store: the lake folder or the bucket.
    Destination,
    Local {
        root: PathBuf,
    },
    S3 {
        bucket: String,
    },
}

/// Checks every value of `config`; returns all problems found, not just the first.
pub fn validate(config: Config) -> Result<ValidatedConfig, Vec<ConfigProblem>> {
    let mut p = Problems::default();
    check_stream_name(&config.name, &mut p);
    let context = ReadContext {
        stream: &config.name,
    };
    let source = read_source(
        &config.source,
        &SourceContext {
            stream: &config.name,
        },
        &mut p,
    );
    let decoder = check_processing(&config.processing, &mut p);
    let destination = read_destination(&config.destination, &context, &mut p);
    let delivery: Option<DeliveryConfig> =
        read_section(&config.destination, "destination", &mut p).ok();

    let (Some(destination), Some(delivery)) = (destination, delivery) else {
        return Err(p.0);
    };
    let checked = delivery::check(&delivery, destination.as_ref(), &config.processing, &mut p);
    destination.check(&checked.prefix, &mut p);
    let dead_letter = dead_letter_target(config.dead_letter, destination.as_ref(), &mut p);
    let shutdown_timeout = config.shutdown_timeout.0;
    if shutdown_timeout < Duration::from_secs(1) || shutdown_timeout > Duration::from_secs(3600) {
        p.add(
            "shutdown_timeout",
            format!("{} is outside 1 s – 1 h", config.shutdown_timeout),
        );
    }
    let metrics_listen = config.metrics.listen.as_deref().and_then(|text| {
        text.parse::<SocketAddr>()
            .map_err(|e| {
                p.add(
                    "metrics.listen",
                    format!("{text:?} is not an address such as 127.0.0.1:9108: {e}"),
                )
            })
            .ok()
    });
    let mut source = source;
    if let Some(source) = source.as_mut() {
        if delivery.exactly_once && !source.rereadable() {
            p.add(
                "destination.exactly_once",
                "needs a source that reads the same records again after a restart (a file, a folder or Kinesis); stdin cannot be re-read",
            );
        }
        // Checkpoints go beside a local lake; elsewhere into the working folder.
        let folder = match destination.local_root() {
            Some(root) => root.join("_checkpoints"),
            None => PathBuf::from(".spillway/checkpoints"),
        };
        source.default_checkpoint_file(folder.join(format!("{}.json", config.name)));
    }

    let (Some(source), Some(decoder), Some(error_prefix)) = (source, decoder, checked.error_prefix)
    else {
        return Err(p.0);
    };
    if !p.is_empty() {
        return Err(p.0);
    }
    Ok(ValidatedConfig {
        naming: ObjectNaming {
            stream: config.name.clone(),
            extension: delivery.file_extension.clone(),
            zone: *checked.prefix.zone(),
        },
        name: config.name,
        source,
        decoder,
        name_rule: destination.target().rule,
        prefix: checked.prefix,
        error_prefix,
        destination,
        retry: RetryPolicy {
            retry_duration: delivery.retry_duration.0,
            ..RetryPolicy::default()
        },
        concurrency: delivery.concurrency,
        flush: checked.flush,
        dead_letter,
        backup_prefix: checked.backup_prefix,
        metrics_listen,
        shutdown_timeout,
        exactly_once: delivery.exactly_once,
    })
}

fn check_stream_name(name: &str, p: &mut Problems) {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        p.add(
            "name",
            format!(
                "{name:?} is not a valid stream name (1–64 characters of A–Z, a–z, 0–9, _ . -)"
            ),
        );
    }
}

/// The section's `type`, checked against the names `known` offers.
fn section_type<'a>(
    section: &'a toml::Value,
    key: &str,
    known: &[&str],
    p: &mut Problems,
) -> Option<&'a str> {
    let expected = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(table) = section.as_table() else {
        p.add(key, "must be a table");
        return None;
    };
    match table.get("type").map(|t| t.as_str()) {
        None => p.add(
            format!("{key}.type"),
            format!("missing field `type`, expected one of {expected}"),
        ),
        Some(None) => p.add(
            format!("{key}.type"),
            format!("must be text, one of {expected}"),
        ),
        Some(Some(kind)) if known.contains(&kind) => return Some(kind),
        Some(Some(kind)) => p.add(
            format!("{key}.type"),
            format!("unknown variant `{kind}`, expected one of {expected}"),
        ),
    }
    None
}

/// The section without its `type`, for a struct that does not take one.
fn without_type(section: &toml::Value) -> toml::Value {
    let mut section = section.clone();
    if let Some(table) = section.as_table_mut() {
        table.remove("type");
    }
    section
}

fn read_source(
    section: &toml::Value,
    ctx: &SourceContext,
    p: &mut Problems,
) -> Option<Box<dyn Source>> {
    let names: Vec<&str> = crate::source::source_types().map(|t| t.name).collect();
    let kind = section_type(section, "source", &names, p)?;
    let source_type = crate::source::source_types().find(|t| t.name == kind)?;
    (source_type.read)(&without_type(section), ctx, p)
}

fn read_destination(
    section: &toml::Value,
    ctx: &ReadContext,
    p: &mut Problems,
) -> Option<Box<dyn Destination>> {
    let names: Vec<&str> = spillway_sinks::destination_types()
        .map(|t| t.name)
        .collect();
    let kind = section_type(section, "destination", &names, p)?;
    let destination_type = spillway_sinks::destination_types().find(|t| t.name == kind)?;
    let own = (destination_type.keys)();
    let known = [&own[..], field_names::<DeliveryConfig>(), &["type"]];
    refuse_unknown_keys(section, "destination", &known, p);
    (destination_type.read)(section, ctx, p)
}

/// The record decoder: the size limit, the event-time field and the partition-key queries.
fn check_processing(processing: &ProcessingConfig, p: &mut Problems) -> Option<RecordDecoder> {
    let before = p.count();
    let max_record_size = processing.max_record_size.0;
    if max_record_size == 0 || max_record_size > 64 * MIB {
        p.add(
            "processing.max_record_size",
            format!("{} is outside 1 B – 64 MiB", processing.max_record_size),
        );
    }
    let time_field = processing.time_field.as_deref().and_then(|text| {
        FieldPath::parse(text)
            .map_err(|e| p.add("processing.time_field", e.to_string()))
            .ok()
    });
    let partition_keys: Vec<(String, FieldPath)> = processing
        .partition_keys
        .iter()
        .filter_map(|(name, text)| match FieldPath::parse(text) {
            Ok(path) => Some((name.clone(), path)),
            Err(e) => {
                p.add(format!("processing.partition_keys.{name}"), e.to_string());
                None
            }
        })
        .collect();
    (p.count() == before)
        .then(|| RecordDecoder::new(max_record_size as usize, time_field, partition_keys))
}

fn dead_letter_target(
    config: Option<DeadLetterConfig>,
    destination: &dyn Destination,
    p: &mut Problems,
) -> DeadLetterTarget {
    let Some(config) = config else {
        if !destination.has_store() {
            p.add("dead_letter", "is required for a destination without an object store of its own (dynamodb, opensearch): add [dead_letter] with type = \"local\" and path, or type = \"s3\" and bucket");
        }
        return DeadLetterTarget::Destination;
    };
    match config.kind {
        DeadLetterKind::Local => {
            if config.bucket.is_some() {
                p.add("dead_letter.bucket", "only applies with type = \"s3\"");
            }
            let Some(root) = config.path else {
                p.add(
                    "dead_letter.path",
                    "missing field `path` (the dead letter's folder)",
                );
                return DeadLetterTarget::Destination;
            };
            check_folder("dead_letter.path", &root, p);
            DeadLetterTarget::Local { root }
        }
        DeadLetterKind::S3 => {
            if config.path.is_some() {
                p.add("dead_letter.path", "only applies with type = \"local\"");
            }
            match config.bucket {
                Some(bucket) if !bucket.is_empty() => DeadLetterTarget::S3 { bucket },
                _ => {
                    p.add(
                        "dead_letter.bucket",
                        "missing or empty: name the dead letter's bucket",
                    );
                    DeadLetterTarget::Destination
                }
            }
        }
    }
}
