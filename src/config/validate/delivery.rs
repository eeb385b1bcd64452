//! The delivery settings every destination shares, checked once: the prefix (or index, or
//! table name) the destination's target names, with Firehose's default timestamp; the error
//! and backup prefixes; retries, concurrency and buffering; and the settings a destination
//! does not take (its `Features`) refused with why.

use std::time::Duration;

use spillway_formats::prefix::pattern::Zone;
use spillway_formats::prefix::{
    validate_error_prefix, validate_prefix, with_default_timestamp, NameRule, PrefixContext,
    PrefixTemplate, DEFAULT_PREFIX,
};
use spillway_sinks::destination::{Backup, Destination};
use spillway_sinks::settings::{BufferingConfig, DeliveryConfig, Problems};

use super::super::ProcessingConfig;
use super::MIB;
use crate::pipeline::{default_max_open, FlushPolicy};

const DEFAULT_ERROR_PREFIX: &str = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/";

/// The templates and flush policy of checked delivery settings.
pub(super) struct CheckedDelivery {
    pub prefix: PrefixTemplate,
    /// `None` when it had a problem (reported).
    pub error_prefix: Option<PrefixTemplate>,
    pub backup_prefix: Option<PrefixTemplate>,
    pub flush: FlushPolicy,
}

pub(super) fn check(
    d: &DeliveryConfig,
    destination: &dyn Destination,
    processing: &ProcessingConfig,
    p: &mut Problems,
) -> CheckedDelivery {
    refuse_what_it_does_not_take(d, destination, p);
    let zone = match d.time_zone.as_deref().map(str::parse::<Zone>) {
        None => Zone::Utc,
        Some(Ok(zone)) => zone,
        Some(Err(e)) => {
            p.add("destination.time_zone", e.to_string());
            Zone::Utc
        }
    };
    if let Some(problem) = d.file_extension.as_deref().and_then(file_extension_problem) {
        p.add("destination.file_extension", problem);
    }
    let prefix = check_target(d, destination, processing, zone, p);
    let error_prefix_text = d
        .error_output_prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_ERROR_PREFIX.to_string());
    let error_prefix = PrefixTemplate::parse(&error_prefix_text)
        .and_then(|t| validate_error_prefix(&prefix, &t).map(|_| t.in_zone(zone)))
        .map_err(|e| p.add("destination.error_output_prefix", e.to_string()))
        .ok();
    if let Some(problem) = error_prefix.as_ref().and_then(error_prefix_length_problem) {
        p.add("destination.error_output_prefix", problem);
    }
    let backup_text = match (destination.features().backup, &d.backup) {
        (Backup::Refused(_), _) => None,
        (_, Some(backup)) => Some(backup.prefix.clone()),
        (Backup::Always { default_prefix }, None) => Some(default_prefix.to_string()),
        (Backup::Optional, None) => None,
    };
    let backup_prefix = backup_text.and_then(|text| {
        PrefixTemplate::parse(&text)
            .and_then(|t| validate_prefix(&t, NameRule::ObjectKey))
            .and_then(|()| PrefixTemplate::parse(&with_default_timestamp(&text)))
            .map(|t| t.in_zone(zone))
            .map_err(|e| p.add("destination.backup.prefix", e.to_string()))
            .ok()
    });
    if d.retry_duration.0 > Duration::from_secs(7200) {
        p.add(
            "destination.retry_duration",
            format!("{} is above the 7200 s maximum", d.retry_duration),
        );
    }
    if !(1..=64).contains(&d.concurrency) {
        p.add(
            "destination.concurrency",
            format!("{} is outside 1–64", d.concurrency),
        );
    }
    CheckedDelivery {
        prefix,
        error_prefix,
        backup_prefix,
        flush: check_buffering(&d.buffering, p),
    }
}

/// Shared settings the destination does not take: named, with why.
fn refuse_what_it_does_not_take(
    d: &DeliveryConfig,
    destination: &dyn Destination,
    p: &mut Problems,
) {
    let features = destination.features();
    if d.exactly_once && !features.exactly_once {
        p.add(
            "destination.exactly_once",
            "is only available for object destinations (local, s3): this destination's writes are not named by source positions",
        );
    }
    if let (Backup::Refused(why), Some(_)) = (features.backup, &d.backup) {
        p.add("destination.backup", why);
    }
    if !features.object_names {
        for (key, set) in [
            ("time_zone", d.time_zone.is_some()),
            ("file_extension", d.file_extension.is_some()),
        ] {
            if set {
                p.add(
                    format!("destination.{key}"),
                    "only applies to object destinations (local, s3)",
                );
            }
        }
    }
}

/// The destination's target template (a prefix, an index, a table name): checked as written
/// (so a problem quotes the user's text), then completed with Firehose's default timestamp
/// where an object prefix has none; and its partition keys matched with the processing's.
fn check_target(
    d: &DeliveryConfig,
    destination: &dyn Destination,
    processing: &ProcessingConfig,
    zone: Zone,
    p: &mut Problems,
) -> PrefixTemplate {
    let target = destination.target();
    let key = target.key;
    let text = target
        .template
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    let checked = PrefixTemplate::parse(&text)
        .and_then(|t| validate_prefix(&t, target.rule))
        .and_then(|()| match target.rule {
            NameRule::ObjectKey => PrefixTemplate::parse(&with_default_timestamp(&text)),
            _ => PrefixTemplate::parse(&text),
        });
    let prefix = match checked {
        Ok(t) => t.in_zone(zone),
        Err(e) => {
            p.add(key, e.to_string());
            PrefixTemplate::parse(DEFAULT_PREFIX).expect("the default prefix parses")
        }
    };
    for used in prefix.partition_key_names() {
        if !processing.partition_keys.contains_key(used) {
            p.add(key, format!("uses !{{partitionKeyFromQuery:{used}}} but processing.partition_keys has no `{used}`"));
        }
    }
    for defined in processing.partition_keys.keys() {
        if !prefix.partition_key_names().contains(&defined.as_str()) {
            p.add(
                format!("processing.partition_keys.{defined}"),
                format!("is defined but {key} does not use it"),
            );
        }
    }
    if d.exactly_once && text.contains("!{firehose:random-string}") {
        p.add(
            key,
            "uses !{firehose:random-string}, which names each write differently; exactly_once needs keys a re-read reproduces",
        );
    }
    prefix
}

/// Firehose's rule for `FileExtension`: a `.` then `0-9 a-z ! - _ . * ' ( )`, 128 at most.
fn file_extension_problem(extension: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_digit() || c.is_ascii_lowercase() || "!-_.*'()".contains(c);
    let ok = extension.starts_with('.') && extension.len() <= 128 && extension.chars().all(allowed);
    (!ok).then(|| {
        format!("{extension:?} is not a file extension Firehose accepts (a `.` then 0-9, a-z, ! - _ . * ' ( ), 128 characters at most)")
    })
}

/// Firehose's 512-character limit on an evaluated error prefix, checked with the longest
/// month and day names and every error-output type.
fn error_prefix_length_problem(template: &PrefixTemplate) -> Option<String> {
    const LIMIT: usize = 512;
    // A Wednesday in September: the longest day and month names.
    let sample = chrono::DateTime::from_timestamp(1_695_816_000, 0).unwrap_or_default();
    let longest = [
        "processing-failed",
        "format-conversion-failed",
        "AmazonOpenSearchService-failed",
    ]
    .iter()
    .filter_map(|kind| {
        let ctx = PrefixContext {
            timestamp: sample,
            partition_keys: &[],
            error_output_type: Some(kind),
        };
        template.evaluate(&ctx).ok().map(|t| t.chars().count())
    })
    .max()?;
    (longest > LIMIT).then(|| {
        format!("evaluates to {longest} characters, above Firehose's {LIMIT}-character limit")
    })
}

fn check_buffering(b: &BufferingConfig, p: &mut Problems) -> FlushPolicy {
    let key = "destination.buffering";
    if b.size.0 < MIB {
        p.add(
            format!("{key}.size"),
            format!("{} is below the 1 MiB minimum", b.size),
        );
    } else if b.size.0 > 128 * MIB {
        p.add(
            format!("{key}.size"),
            format!("{} is above the 128 MiB maximum", b.size),
        );
    }
    if b.interval.0 > Duration::from_secs(900) {
        p.add(
            format!("{key}.interval"),
            format!("{} is above the 900 s maximum", b.interval),
        );
    }
    if b.memory_budget < b.size {
        p.add(
            format!("{key}.memory_budget"),
            format!("{} is below buffering.size ({})", b.memory_budget, b.size),
        );
    }
    if b.max_open_partitions == Some(0) {
        p.add(format!("{key}.max_open_partitions"), "must be at least 1");
    }
    let memory_budget = b.memory_budget.0 as usize;
    FlushPolicy {
        max_bytes: b.size.0 as usize,
        max_age: b.interval.0,
        memory_budget,
        max_open_partitions: b
            .max_open_partitions
            .unwrap_or_else(|| default_max_open(memory_budget)),
    }
}
