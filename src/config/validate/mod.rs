//! Validation: raw config → [`ValidatedConfig`], with every problem collected and named by
//! its key. Limits are Firehose's where Firehose has one (buffer 1–128 MiB, interval 0–900 s,
//! retry 0–7200 s, stream names `[A-Za-z0-9_.-]{1,64}`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spillway_formats::compression::Codec;
use spillway_formats::decode::parse_time_text;
use spillway_formats::decode::{FieldPath, RecordDecoder};
use spillway_formats::encode::ParquetCompression;
use spillway_formats::prefix::pattern::Zone;
use spillway_formats::prefix::{
    validate_error_prefix, validate_prefix, with_default_timestamp, NameRule, PrefixContext,
    PrefixTemplate, DEFAULT_PREFIX,
};
use spillway_formats::schema::TableSchema;
use spillway_sinks::catalog::CatalogTarget;
use spillway_sinks::dynamodb::{ItemMapping, KeyField, KeyType, Ordering, TtlField};
use spillway_sinks::opensearch::OpenSearchOptions;
use spillway_sinks::retry::RetryPolicy;
use spillway_sinks::s3::{AwsConnection, Encryption, S3Options, MIN_PART_SIZE};

use super::load::ConfigProblem;
use super::{
    BackupConfig, BufferingConfig, CatalogConfig, CatalogKind, Config, DeadLetterConfig,
    DestinationConfig, DynamodbDestinationConfig, FileSourceConfig, FormatConfig, HumanDuration,
    KeyConfig, KeyTypeConfig, KinesisModeConfig, KinesisSourceConfig, LocalDeadLetterConfig,
    LocalDestinationConfig, NdjsonFormatConfig, OrderingConfig, ParquetFormatConfig,
    S3DeadLetterConfig, S3DestinationConfig, SourceConfig, StartPositionConfig,
};
use crate::pipeline::FlushPolicy;
pub use crate::source::file::InputSpec;
use crate::source::kinesis::{KinesisSettings, ReadMode, StartPosition};

mod sections;
use self::sections::{
    dynamodb_destination, kinesis_source, local_destination, opensearch_destination, s3_destination,
};

const MIB: u64 = 1 << 20;
const DEFAULT_ERROR_PREFIX: &str = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/";

/// A config that passed validation: every value parsed and in range.
#[derive(Debug)]
pub struct ValidatedConfig {
    pub name: String,
    pub source: SourceSettings,
    pub decoder: RecordDecoder,
    pub prefix: PrefixTemplate,
    /// What the evaluated prefix names (an object key, an index, a table), and so its rule.
    pub name_rule: NameRule,
    pub error_prefix: PrefixTemplate,
    pub destination: DestinationSettings,
    pub retry: RetryPolicy,
    pub concurrency: usize,
    pub flush: FlushPolicy,
    /// Object destinations only.
    pub format: Option<FormatSettings>,
    pub catalog: Option<(CatalogKind, CatalogTarget)>,
    pub dead_letter: DeadLetterTarget,
    /// Prefix of the source-record backup, when enabled.
    pub backup_prefix: Option<PrefixTemplate>,
    pub metrics_listen: Option<SocketAddr>,
    /// How long an ordered shutdown may take before the process exits anyway.
    pub shutdown_timeout: Duration,
    /// Effectively-once objects (object destinations): segment batching, keys from source
    /// positions, create-if-absent.
    pub exactly_once: bool,
    /// Object destinations: the extension that replaces the format's (Firehose's
    /// `FileExtension`).
    pub file_extension: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSettings {
    File {
        input: InputSpec,
        /// Where read positions are kept; `None` for stdin (nothing to resume).
        checkpoint_file: Option<PathBuf>,
    },
    Kinesis {
        settings: KinesisSettings,
        connection: AwsConnection,
    },
}

#[derive(Debug)]
pub enum DestinationSettings {
    Local {
        root: PathBuf,
    },
    S3 {
        options: S3Options,
        connection: AwsConnection,
        check_bucket: bool,
    },
    Opensearch(Box<OpenSearchOptions>),
    Dynamodb {
        mapping: Box<ItemMapping>,
        ordering: Ordering,
        write_concurrency: usize,
        /// Create the table if missing, with these key types.
        create_table: Option<(KeyType, Option<KeyType>)>,
        connection: AwsConnection,
    },
}

#[derive(Debug)]
pub enum FormatSettings {
    Parquet {
        compression: ParquetCompression,
        row_group_bytes: usize,
        schema: SchemaChoice,
    },
    Ndjson {
        codec: Codec,
        level: Option<i32>,
    },
}

#[derive(Debug)]
pub enum SchemaChoice {
    Columns(Arc<TableSchema>),
    /// Read at start from an existing Glue table.
    GlueTable {
        database: String,
        table: String,
    },
    /// Inferred from the first `sample` records.
    Infer {
        sample: usize,
    },
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

/// The settings every destination has (`format`, `catalog`, `backup`: object destinations).
struct Common {
    /// The partitioning template and its key: the prefix, or a DynamoDB table name.
    prefix: Option<String>,
    prefix_key: &'static str,
    /// What the evaluated prefix names.
    name_rule: NameRule,
    error_output_prefix: Option<String>,
    retry_duration: HumanDuration,
    concurrency: usize,
    buffering: BufferingConfig,
    format: Option<FormatConfig>,
    /// Object destinations only.
    exactly_once: bool,
    catalog: Option<CatalogConfig>,
    backup: Option<BackupConfig>,
    /// Object destinations: Firehose's `CustomTimeZone` and `FileExtension`.
    time_zone: Option<String>,
    file_extension: Option<String>,
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

    // File input, and its explicit checkpoint file; or Kinesis settings.
    let (file_source, kinesis) = match config.source {
        SourceConfig::File(FileSourceConfig {
            path,
            checkpoint_file,
        }) => {
            if let Some(file) = &checkpoint_file {
                check_folder("source.checkpoint_file", file, &mut p);
            }
            let input = if path == "-" {
                InputSpec::Stdin
            } else if path.is_empty() {
                p.add(
                    "source.path",
                    "is empty: give a file, a folder, or - for stdin (an unset ${VAR:-} gives an empty value)",
                );
                InputSpec::Path(PathBuf::new())
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
            (Some((input, checkpoint_file)), None)
        }
        SourceConfig::Kinesis(k) => (None, kinesis_source(k, &config.name, &mut p)),
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

    let (destination, common, default_catalog) = match config.destination {
        DestinationConfig::Local(d) => local_destination(d, &mut p),
        DestinationConfig::S3(d) => s3_destination(d, &mut p),
        DestinationConfig::Dynamodb(d) => dynamodb_destination(d, &mut p),
        DestinationConfig::Opensearch(d) => opensearch_destination(d, &config.name, &mut p),
    };
    let prefix_key = common.prefix_key;

    let name_rule = common.name_rule;
    let zone = match common.time_zone.as_deref().map(str::parse::<Zone>) {
        None => Zone::Utc,
        Some(Ok(zone)) => zone,
        Some(Err(e)) => {
            p.add("destination.time_zone", e.to_string());
            Zone::Utc
        }
    };
    if let Some(extension) = &common.file_extension {
        if let Some(problem) = file_extension_problem(extension) {
            p.add("destination.file_extension", problem);
        }
    }
    let prefix_text = common.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    // Checked as written (so a problem quotes the user's text), then completed with
    // Firehose's default timestamp where it has none.
    let checked = PrefixTemplate::parse(&prefix_text)
        .and_then(|t| validate_prefix(&t, name_rule))
        .and_then(|()| match name_rule {
            NameRule::ObjectKey => PrefixTemplate::parse(&with_default_timestamp(&prefix_text)),
            _ => PrefixTemplate::parse(&prefix_text),
        });
    let prefix = match checked {
        Ok(t) => t.in_zone(zone),
        Err(e) => {
            p.add(prefix_key, e.to_string());
            PrefixTemplate::parse(DEFAULT_PREFIX).expect("the default prefix parses")
        }
    };
    for used in prefix.partition_key_names() {
        if !processing.partition_keys.contains_key(used) {
            p.add(prefix_key, format!("uses !{{partitionKeyFromQuery:{used}}} but processing.partition_keys has no `{used}`"));
        }
    }
    for defined in processing.partition_keys.keys() {
        if !prefix.partition_key_names().contains(&defined.as_str()) {
            p.add(
                format!("processing.partition_keys.{defined}"),
                format!("is defined but {prefix_key} does not use it"),
            );
        }
    }
    if common.exactly_once && prefix_text.contains("!{firehose:random-string}") {
        p.add(
            "destination.prefix",
            "uses !{firehose:random-string}, which names each write differently; exactly_once needs keys a re-read reproduces",
        );
    }
    let error_prefix_text = common
        .error_output_prefix
        .unwrap_or_else(|| DEFAULT_ERROR_PREFIX.to_string());
    let error_prefix = PrefixTemplate::parse(&error_prefix_text)
        .and_then(|t| validate_error_prefix(&prefix, &t).map(|_| t.in_zone(zone)))
        .map_err(|e| p.add("destination.error_output_prefix", e.to_string()))
        .ok();
    if let Some(problem) = error_prefix.as_ref().and_then(error_prefix_length_problem) {
        p.add("destination.error_output_prefix", problem);
    }
    let backup_prefix = common.backup.and_then(|b| {
        PrefixTemplate::parse(&b.prefix)
            .and_then(|t| validate_prefix(&t, NameRule::ObjectKey))
            .and_then(|()| PrefixTemplate::parse(&with_default_timestamp(&b.prefix)))
            .map(|t| t.in_zone(zone))
            .map_err(|e| p.add("destination.backup.prefix", e.to_string()))
            .ok()
    });
    if common.retry_duration.0 > Duration::from_secs(7200) {
        p.add(
            "destination.retry_duration",
            format!("{} is above the 7200 s maximum", common.retry_duration),
        );
    }
    if !(1..=64).contains(&common.concurrency) {
        p.add(
            "destination.concurrency",
            format!("{} is outside 1–64", common.concurrency),
        );
    }
    let flush = check_buffering(&common.buffering, &mut p);
    // Outer `None`: a problem was reported; inner `None`: no format (DynamoDB).
    let format = match common.format {
        Some(format) => check_format(format, &mut p).map(Some),
        None => Some(None),
    };
    let catalog = common.catalog.map(|c| {
        let kind = c.kind.unwrap_or(default_catalog);
        for (key, name) in [("database", &c.database), ("table", &c.table)] {
            if let Some(problem) = catalog_name_problem(name) {
                p.add(format!("destination.catalog.{key}"), problem);
            }
        }
        if !matches!(format, Some(Some(FormatSettings::Parquet { .. }))) {
            p.add(
                "destination.catalog",
                "needs destination.format.type = \"parquet\"",
            );
        }
        if kind == CatalogKind::Local && !matches!(destination, DestinationSettings::Local { .. }) {
            p.add(
                "destination.catalog.type",
                "\"local\" needs a local destination; use \"glue\" with S3",
            );
        }
        if kind == CatalogKind::Glue && !matches!(destination, DestinationSettings::S3 { .. }) {
            p.add(
                "destination.catalog.type",
                "\"glue\" needs an S3 destination (Glue partitions point at S3 locations); use \"local\" with a local destination",
            );
        }
        (
            kind,
            CatalogTarget {
                database: c.database,
                table: c.table,
            },
        )
    });
    if let Some(Some(FormatSettings::Parquet {
        schema: SchemaChoice::GlueTable { .. },
        ..
    })) = &format
    {
        if !matches!(destination, DestinationSettings::S3 { .. }) {
            p.add(
                "destination.format.schema.glue_table",
                "needs an S3 destination (its AWS settings reach Glue)",
            );
        }
    }

    let dead_letter = match config.dead_letter {
        None if matches!(
            destination,
            DestinationSettings::Dynamodb { .. } | DestinationSettings::Opensearch(_)
        ) =>
        {
            p.add("dead_letter", "is required for a dynamodb or opensearch destination: add [dead_letter] with type = \"local\" and path, or type = \"s3\" and bucket");
            DeadLetterTarget::Destination
        }
        None => DeadLetterTarget::Destination,
        Some(DeadLetterConfig::Local(LocalDeadLetterConfig { path })) => {
            check_folder("dead_letter.path", &path, &mut p);
            DeadLetterTarget::Local { root: path }
        }
        Some(DeadLetterConfig::S3(S3DeadLetterConfig { bucket })) => {
            DeadLetterTarget::S3 { bucket }
        }
    };

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

    let source = match (file_source, kinesis) {
        (Some((InputSpec::Stdin, _)), _) if common.exactly_once => {
            p.add(
                "destination.exactly_once",
                "needs a source that reads the same records again after a restart (a file, a folder or Kinesis); stdin cannot be re-read",
            );
            None
        }
        (Some((input, checkpoint_file)), _) => {
            let checkpoint_file = match (&input, checkpoint_file, &destination) {
                (InputSpec::Stdin, _, _) => None,
                (_, Some(file), _) => Some(file),
                (_, None, DestinationSettings::Local { root }) => Some(
                    root.join("_checkpoints")
                        .join(format!("{}.json", config.name)),
                ),
                (
                    _,
                    None,
                    DestinationSettings::S3 { .. }
                    | DestinationSettings::Dynamodb { .. }
                    | DestinationSettings::Opensearch(_),
                ) => Some(
                    PathBuf::from(".spillway/checkpoints").join(format!("{}.json", config.name)),
                ),
            };
            Some(SourceSettings::File {
                input,
                checkpoint_file,
            })
        }
        (None, Some((settings, connection))) => Some(SourceSettings::Kinesis {
            settings,
            connection,
        }),
        (None, None) => None,
    };

    if !p.0.is_empty() {
        return Err(p.0);
    }
    let (Some(format), Some(error_prefix), Some(source)) = (format, error_prefix, source) else {
        unreachable!("a missing value was reported as a problem");
    };
    Ok(ValidatedConfig {
        name: config.name,
        source,
        decoder: RecordDecoder {
            max_record_size: max_record_size as usize,
            time_field,
            partition_keys,
        },
        prefix,
        name_rule,
        error_prefix,
        destination,
        retry: RetryPolicy {
            retry_duration: common.retry_duration.0,
            ..RetryPolicy::default()
        },
        concurrency: common.concurrency,
        flush,
        format,
        catalog,
        dead_letter,
        backup_prefix,
        metrics_listen,
        shutdown_timeout,
        exactly_once: common.exactly_once,
        file_extension: common.file_extension,
    })
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

/// A path that must name something: an empty one would mean the current folder (an unset
/// `${VAR:-}` gives one), which is never what a delivery stream should write into.
fn check_folder(key: &str, path: &std::path::Path, p: &mut Problems) {
    if path.as_os_str().is_empty() {
        p.add(
            key,
            "is empty; give a folder (an unset ${VAR:-} gives an empty value)",
        );
    }
}

/// Database and table names become folder names of the local catalog and Glue/Athena
/// identifiers: letters, digits, `_` and `-`, 1–255 characters.
fn catalog_name_problem(name: &str) -> Option<String> {
    let ok = (1..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (!ok).then(|| {
        format!("{name:?} is not a valid catalog name (1–255 characters of A–Z, a–z, 0–9, _ and -)")
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
            let choice = match (schema.columns.is_empty(), schema.glue_table) {
                (false, Some(_)) => {
                    p.add(
                        format!("{key}.schema"),
                        "give either columns or glue_table, not both",
                    );
                    return None;
                }
                (false, None) => match TableSchema::from_columns(&schema.columns) {
                    Ok(t) => SchemaChoice::Columns(Arc::new(t)),
                    Err(e) => {
                        p.add(format!("{key}.schema.columns"), e.to_string());
                        return None;
                    }
                },
                (true, Some(name)) => match name.split_once('.') {
                    Some((database, table)) if !database.is_empty() && !table.is_empty() => {
                        SchemaChoice::GlueTable {
                            database: database.into(),
                            table: table.into(),
                        }
                    }
                    _ => {
                        p.add(
                            format!("{key}.schema.glue_table"),
                            format!("{name:?} is not `database.table`"),
                        );
                        return None;
                    }
                },
                (true, None) => SchemaChoice::Infer {
                    sample: schema.infer_sample.unwrap_or(1000).max(1),
                },
            };
            if !matches!(choice, SchemaChoice::Infer { .. }) && schema.infer_sample.is_some() {
                p.add(
                    format!("{key}.schema.infer_sample"),
                    "only applies when the schema is inferred",
                );
            }
            Some(FormatSettings::Parquet {
                compression,
                row_group_bytes: row_group_size.0 as usize,
                schema: choice,
            })
        }
    }
}
