//! Validation: raw config → [`ValidatedConfig`], with every problem collected and named by
//! its key. Limits are Firehose's where Firehose has one (buffer 1–128 MiB, interval 0–900 s,
//! retry 0–7200 s, stream names `[A-Za-z0-9_.-]{1,64}`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spillway_formats::compression::Codec;
use spillway_formats::decode::{FieldPath, RecordDecoder};
use spillway_formats::encode::ParquetCompression;
use spillway_formats::prefix::{
    validate_error_prefix, validate_prefix, PrefixTemplate, DEFAULT_PREFIX,
};
use spillway_formats::schema::TableSchema;
use spillway_sinks::local::CatalogTarget;
use spillway_sinks::retry::RetryPolicy;

use super::load::ConfigProblem;
use super::{
    BufferingConfig, Config, DeadLetterConfig, DestinationConfig, FileSourceConfig, FormatConfig,
    LocalDeadLetterConfig, LocalDestinationConfig, NdjsonFormatConfig, ParquetFormatConfig,
    SourceConfig,
};
use crate::pipeline::FlushPolicy;

const MIB: u64 = 1 << 20;
const DEFAULT_ERROR_PREFIX: &str = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/";

/// A config that passed validation: every value parsed and in range.
#[derive(Debug)]
pub struct ValidatedConfig {
    pub name: String,
    pub input: InputSpec,
    /// Where read positions are kept; `None` for stdin (nothing to resume).
    pub checkpoint_file: Option<PathBuf>,
    pub decoder: RecordDecoder,
    pub prefix: PrefixTemplate,
    pub lake_root: PathBuf,
    pub retry: RetryPolicy,
    pub concurrency: usize,
    pub flush: FlushPolicy,
    pub format: FormatSettings,
    pub catalog: Option<CatalogTarget>,
    pub dead_letter: DeadLetterTarget,
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputSpec {
    Stdin,
    /// A file, or a folder whose files are read in name order.
    Path(PathBuf),
}

#[derive(Debug)]
pub enum FormatSettings {
    Parquet {
        compression: ParquetCompression,
        row_group_bytes: usize,
        /// `None`: infer from the first `infer_sample` records.
        schema: Option<Arc<TableSchema>>,
        infer_sample: usize,
    },
    Ndjson {
        codec: Codec,
        level: Option<i32>,
    },
}

#[derive(Debug)]
pub enum DeadLetterTarget {
    Local {
        root: PathBuf,
        prefix: PrefixTemplate,
    },
}

/// Checks every value of `config`; returns all problems found, not just the first.
pub fn validate(config: Config) -> Result<ValidatedConfig, Vec<ConfigProblem>> {
    let mut p = Problems(Vec::new());
    let name_ok = !config.name.is_empty()
        && config.name.len() <= 64
        && config
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !name_ok {
        p.add(
            "name",
            format!(
                "{:?} is not a valid stream name (1–64 characters of A–Z, a–z, 0–9, _ . -)",
                config.name
            ),
        );
    }

    let SourceConfig::File(FileSourceConfig {
        path,
        checkpoint_file,
    }) = config.source;
    let input = if path == "-" {
        InputSpec::Stdin
    } else {
        let path = PathBuf::from(path);
        if !path.exists() {
            p.add(
                "source.path",
                format!("no such file or folder: {}", path.display()),
            );
        }
        InputSpec::Path(path)
    };

    let processing = config.processing;
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

    let DestinationConfig::Local(LocalDestinationConfig {
        path: lake_root,
        prefix,
        retry_duration,
        concurrency,
        buffering,
        format,
        catalog,
    }) = config.destination;
    let prefix_text = prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    let prefix =
        match PrefixTemplate::parse(&prefix_text).and_then(|t| validate_prefix(&t).map(|_| t)) {
            Ok(t) => t,
            Err(e) => {
                p.add("destination.prefix", e.to_string());
                PrefixTemplate::parse(DEFAULT_PREFIX).expect("the default prefix parses")
            }
        };
    for used in prefix.partition_key_names() {
        if !processing.partition_keys.contains_key(used) {
            p.add("destination.prefix", format!("uses !{{partitionKeyFromQuery:{used}}} but processing.partition_keys has no `{used}`"));
        }
    }
    for defined in processing.partition_keys.keys() {
        if !prefix.partition_key_names().contains(&defined.as_str()) {
            p.add(
                format!("processing.partition_keys.{defined}"),
                "is defined but destination.prefix does not use it",
            );
        }
    }
    if retry_duration.0 > Duration::from_secs(7200) {
        p.add(
            "destination.retry_duration",
            format!("{retry_duration} is above the 7200 s maximum"),
        );
    }
    if !(1..=64).contains(&concurrency) {
        p.add(
            "destination.concurrency",
            format!("{concurrency} is outside 1–64"),
        );
    }
    let flush = check_buffering(&buffering, &mut p);
    let format = check_format(format, &mut p);
    if catalog.is_some() && !matches!(format, Some(FormatSettings::Parquet { .. })) {
        p.add(
            "destination.catalog",
            "needs destination.format.type = \"parquet\"",
        );
    }

    let dead_letter = match config.dead_letter {
        None => DeadLetterConfig::Local(LocalDeadLetterConfig::default()),
        Some(d) => d,
    };
    let DeadLetterConfig::Local(LocalDeadLetterConfig {
        path: dl_path,
        prefix: dl_prefix,
    }) = dead_letter;
    let dl_prefix_text = dl_prefix.unwrap_or_else(|| DEFAULT_ERROR_PREFIX.to_string());
    let dl_prefix = PrefixTemplate::parse(&dl_prefix_text)
        .and_then(|t| validate_error_prefix(&prefix, &t).map(|_| t))
        .map_err(|e| p.add("dead_letter.prefix", e.to_string()))
        .ok();

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

    let checkpoint_file = match (&input, checkpoint_file) {
        (InputSpec::Stdin, _) => None,
        (_, Some(file)) => Some(file),
        (_, None) => Some(
            lake_root
                .join("_checkpoints")
                .join(format!("{}.json", config.name)),
        ),
    };

    if !p.0.is_empty() {
        return Err(p.0);
    }
    let (Some(format), Some(dl_prefix)) = (format, dl_prefix) else {
        unreachable!("a missing value was reported as a problem");
    };
    Ok(ValidatedConfig {
        name: config.name,
        input,
        checkpoint_file,
        decoder: RecordDecoder {
            max_record_size: max_record_size as usize,
            time_field,
            partition_keys,
        },
        prefix,
        retry: RetryPolicy {
            retry_duration: retry_duration.0,
            ..RetryPolicy::default()
        },
        concurrency,
        flush,
        format,
        catalog: catalog.map(|c| CatalogTarget {
            database: c.database,
            table: c.table,
        }),
        dead_letter: DeadLetterTarget::Local {
            root: dl_path.unwrap_or_else(|| lake_root.clone()),
            prefix: dl_prefix,
        },
        lake_root,
        metrics_listen,
    })
}

struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigProblem::new(path, message));
    }
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
    if b.max_open_partitions == 0 {
        p.add(format!("{key}.max_open_partitions"), "must be at least 1");
    }
    FlushPolicy {
        max_bytes: b.size.0 as usize,
        max_age: b.interval.0,
        memory_budget: b.memory_budget.0 as usize,
        max_open_partitions: b.max_open_partitions,
    }
}

fn check_level(codec: Codec, level: Option<i32>, key: &str, p: &mut Problems) {
    let Some(level) = level else { return };
    let range = match codec {
        Codec::Gzip => 0..=9,
        Codec::Zstd => 1..=22,
        Codec::Snappy | Codec::None => {
            p.add(key, format!("{codec:?} has no compression level"));
            return;
        }
    };
    if !range.contains(&level) {
        let (low, high) = range.into_inner();
        p.add(
            key,
            format!("{level} is outside {low}–{high} for {codec:?}"),
        );
    }
}

fn check_format(format: FormatConfig, p: &mut Problems) -> Option<FormatSettings> {
    let key = "destination.format";
    match format {
        FormatConfig::Ndjson(NdjsonFormatConfig {
            compression,
            compression_level,
        }) => {
            check_level(
                compression,
                compression_level,
                &format!("{key}.compression_level"),
                p,
            );
            Some(FormatSettings::Ndjson {
                codec: compression,
                level: compression_level,
            })
        }
        FormatConfig::Parquet(ParquetFormatConfig {
            compression,
            compression_level,
            row_group_size,
            schema,
        }) => {
            check_level(
                compression,
                compression_level,
                &format!("{key}.compression_level"),
                p,
            );
            let compression = match compression {
                Codec::None => ParquetCompression::None,
                Codec::Snappy => ParquetCompression::Snappy,
                Codec::Zstd => ParquetCompression::Zstd(compression_level.unwrap_or(3)),
                Codec::Gzip => {
                    ParquetCompression::Gzip(compression_level.unwrap_or(6).max(0) as u32)
                }
            };
            if row_group_size.0 < 64 * 1024 {
                p.add(
                    format!("{key}.row_group_size"),
                    format!("{row_group_size} is below the 64 KiB minimum"),
                );
            }
            let table = if schema.columns.is_empty() {
                None
            } else {
                match TableSchema::from_columns(&schema.columns) {
                    Ok(t) => Some(Arc::new(t)),
                    Err(e) => {
                        p.add(format!("{key}.schema.columns"), e.to_string());
                        return None;
                    }
                }
            };
            if table.is_some() && schema.infer_sample.is_some() {
                p.add(
                    format!("{key}.schema.infer_sample"),
                    "only applies when no columns are listed",
                );
            }
            Some(FormatSettings::Parquet {
                compression,
                row_group_bytes: row_group_size.0 as usize,
                schema: table,
                infer_sample: schema.infer_sample.unwrap_or(1000).max(1),
            })
        }
    }
}
