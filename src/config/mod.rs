//! Delivery-stream configuration: one TOML file per stream (source, processing, destination
//! with buffering and format, dead letter). [`load`] reads and interpolates `${VAR}` /
//! `${VAR:-default}`, [`validate()`] turns the raw types into a [`ValidatedConfig`] or a list of
//! problems each naming its key. Nothing is built before validation passes.

mod load;
mod size;
mod validate;

use serde::Deserialize;
use spillway_formats::compression::Codec;
use spillway_formats::schema::ColumnSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use self::load::{load, load_str, ConfigError, ConfigProblem};
pub use self::size::{HumanDuration, HumanSize};
pub use self::validate::{
    validate, DeadLetterTarget, DestinationSettings, FormatSettings, InputSpec, SchemaChoice,
    SourceSettings, ValidatedConfig,
};

/// One delivery stream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Delivery-stream name; the first part of every object name and the metrics label.
    pub name: String,
    pub source: SourceConfig,
    #[serde(default)]
    pub processing: ProcessingConfig,
    pub destination: DestinationConfig,
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

/// Where records come from.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    File(FileSourceConfig),
    Kinesis(KinesisSourceConfig),
}

/// A Kinesis data stream, read with enhanced fan-out (default) or by polling; checkpoints in
/// a DynamoDB lease table with the KCL's attribute names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KinesisSourceConfig {
    /// Stream name or ARN.
    pub stream: String,
    /// `efo` (enhanced fan-out: a dedicated 2 MiB/s per shard) or `polling` (GetRecords).
    #[serde(default)]
    pub mode: KinesisModeConfig,
    /// Enhanced fan-out consumer name; default `spillway-<name>`.
    #[serde(default)]
    pub consumer_name: Option<String>,
    /// Where a shard without a checkpoint starts: `TRIM_HORIZON` (default: nothing already
    /// in the stream is skipped), `LATEST`, or `AT_TIMESTAMP` with `start_timestamp`.
    #[serde(default)]
    pub start_position: StartPositionConfig,
    /// ISO-8601 time for `AT_TIMESTAMP`.
    #[serde(default)]
    pub start_timestamp: Option<String>,
    /// DynamoDB lease table (created on-demand if missing).
    pub lease_table: String,
    /// This worker's name in the lease table; default: host name and process id.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// How often acknowledged positions are checkpointed (and at shutdown).
    #[serde(default = "defaults::ten_seconds")]
    pub checkpoint_interval: HumanDuration,
    /// How often `ListShards` looks for new and closed shards.
    #[serde(default = "defaults::ten_seconds")]
    pub shard_discovery_interval: HumanDuration,
    /// Polling mode: pause between GetRecords calls when caught up.
    #[serde(default = "defaults::one_second")]
    pub poll_interval: HumanDuration,
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override for Kinesis and the lease table; default: the AWS SDK chain.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum KinesisModeConfig {
    #[default]
    Efo,
    Polling,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
pub enum StartPositionConfig {
    #[default]
    #[serde(rename = "TRIM_HORIZON")]
    TrimHorizon,
    #[serde(rename = "LATEST")]
    Latest,
    #[serde(rename = "AT_TIMESTAMP")]
    AtTimestamp,
}

/// NDJSON from a file, every file of a folder (sorted by name), or `-` for stdin;
/// gzip-compressed input is detected and accepted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// File, folder or `-`.
    pub path: String,
    /// Where read positions are checkpointed, so a rerun resumes after the last durable
    /// record. Default: `<lake>/_checkpoints/<name>.json` for a local destination.
    #[serde(default)]
    pub checkpoint_file: Option<PathBuf>,
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

/// Where batches go.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum DestinationConfig {
    Local(LocalDestinationConfig),
    S3(S3DestinationConfig),
    Dynamodb(DynamodbDestinationConfig),
    Opensearch(OpenSearchDestinationConfig),
}

/// An OpenSearch or Elasticsearch cluster, written with the `_bulk` API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenSearchDestinationConfig {
    /// Base URL, e.g. `http://127.0.0.1:9200`.
    pub endpoint: String,
    /// Index name; the rotation suffix is appended.
    pub index: String,
    /// Firehose's index rotation: `NoRotation`, `OneHour`, `OneDay` (default), `OneWeek`,
    /// `OneMonth` — by arrival time, or by `processing.time_field` when set.
    #[serde(default)]
    pub rotation: RotationConfig,
    /// `auto` (from shard/sequence: a redelivery overwrites), `none` (cluster ids), or a
    /// jq-like path such as `.event_id`.
    #[serde(default = "defaults::auto")]
    pub document_id: String,
    /// `index` (default) or `create` (a 409 for an existing id counts as delivered).
    #[serde(default)]
    pub action: ActionConfig,
    /// Bulk request size limit.
    #[serde(default = "defaults::bulk_size")]
    pub bulk_size: HumanSize,
    /// Documents per bulk request at most.
    #[serde(default = "defaults::bulk_documents")]
    pub bulk_documents: usize,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub api_key: Option<String>,
    /// PEM file of CA certificates to trust for an `https://` endpoint, besides the system's
    /// (a self-managed cluster's own CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Firehose's S3 backup mode: `FailedDocumentsOnly` (default: the dead letter holds the
    /// documents that failed) or `AllDocuments` (every raw record is also written, gzip
    /// NDJSON, under `[destination.backup] prefix` in the dead letter's store).
    #[serde(default)]
    pub backup_mode: BackupModeConfig,
    /// The backup prefix for `AllDocuments` (default `backup/`).
    #[serde(default)]
    pub backup: Option<BackupConfig>,
    /// The documents' columns with Hive types, as for Parquet. An index template with
    /// mappings from them is installed for the stream's indices before the first bulk
    /// request, and a record whose fields do not fit their types goes to the dead letter
    /// (`format-conversion-failed`) instead of to the cluster. Default: none (the cluster
    /// maps fields from the first document it sees).
    #[serde(default)]
    pub schema: Option<ColumnsConfig>,
    /// A JSON file holding the index template's `mappings` object, instead of `schema`
    /// (records are then not checked by Spillway).
    #[serde(default)]
    pub mapping_file: Option<PathBuf>,
    /// `mappings.dynamic` of the template: `true`, `false` (default: fields not in the
    /// mappings are kept in `_source` but not indexed) or `strict` (documents with such
    /// fields are refused).
    #[serde(default)]
    pub dynamic: Option<DynamicConfig>,
    /// Firehose ErrorOutputPrefix for the dead letter.
    #[serde(default)]
    pub error_output_prefix: Option<String>,
    #[serde(default = "defaults::retry_duration")]
    pub retry_duration: HumanDuration,
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub buffering: BufferingConfig,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
pub enum RotationConfig {
    NoRotation,
    OneHour,
    #[default]
    OneDay,
    OneWeek,
    OneMonth,
}

/// Listed columns with Hive types.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnsConfig {
    pub columns: Vec<ColumnSpec>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DynamicConfig {
    True,
    False,
    Strict,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
pub enum BackupModeConfig {
    #[default]
    FailedDocumentsOnly,
    AllDocuments,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ActionConfig {
    #[default]
    Index,
    Create,
}

/// A local data lake: a folder of partitioned objects plus a Glue-style file catalog.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDestinationConfig {
    /// The lake's root folder.
    pub path: PathBuf,
    /// Firehose prefix template; default `!{timestamp:yyyy/MM/dd/HH}/`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Firehose ErrorOutputPrefix for dead letters; must contain
    /// `!{firehose:error-output-type}` when `prefix` has expressions.
    #[serde(default)]
    pub error_output_prefix: Option<String>,
    /// How long to retry a failing write before dead-lettering (0–7200 s).
    #[serde(default = "defaults::retry_duration")]
    pub retry_duration: HumanDuration,
    /// Deliveries in flight at once.
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub buffering: BufferingConfig,
    #[serde(default)]
    pub format: FormatConfig,
    /// Effectively-once objects: batches close per shard segment, objects are named from
    /// the segment's source positions and created only if absent, so a re-read after a crash
    /// or a restart rewrites nothing. More, smaller objects; needs a source that reads the
    /// same records again (a file or Kinesis, not stdin) and a prefix without
    /// `!{firehose:random-string}`.
    #[serde(default)]
    pub exactly_once: bool,
    /// Firehose's `CustomTimeZone`: the IANA zone (e.g. `Asia/Tokyo`) that `!{timestamp:…}`
    /// and the time in object names are written in. Default: UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Firehose's `FileExtension`: replaces the format's extension in object names (`.parquet`;
    /// `.gz`, `.snappy`, `.zst` for compressed NDJSON, none for plain NDJSON), e.g. `".json"`.
    #[serde(default)]
    pub file_extension: Option<String>,
    /// Register the table and its partitions in `<path>/_catalog/` (Parquet only).
    #[serde(default)]
    pub catalog: Option<CatalogConfig>,
    /// Also write every raw record, gzip NDJSON, under this backup prefix.
    #[serde(default)]
    pub backup: Option<BackupConfig>,
}

/// An S3 bucket (or an S3-compatible store), with an optional Glue Data Catalog table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3DestinationConfig {
    pub bucket: String,
    /// Firehose prefix template; default `!{timestamp:yyyy/MM/dd/HH}/`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Firehose ErrorOutputPrefix for dead letters; must contain
    /// `!{firehose:error-output-type}` when `prefix` has expressions.
    #[serde(default)]
    pub error_output_prefix: Option<String>,
    #[serde(default = "defaults::retry_duration")]
    pub retry_duration: HumanDuration,
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub buffering: BufferingConfig,
    #[serde(default)]
    pub format: FormatConfig,
    /// Effectively-once objects: batches close per shard segment, objects are named from
    /// the segment's source positions and created only if absent, so a re-read after a crash
    /// or a restart rewrites nothing. More, smaller objects; needs a source that reads the
    /// same records again (a file or Kinesis, not stdin) and a prefix without
    /// `!{firehose:random-string}`.
    #[serde(default)]
    pub exactly_once: bool,
    /// Firehose's `CustomTimeZone`: the IANA zone (e.g. `Asia/Tokyo`) that `!{timestamp:…}`
    /// and the time in object names are written in. Default: UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Firehose's `FileExtension`: replaces the format's extension in object names (`.parquet`;
    /// `.gz`, `.snappy`, `.zst` for compressed NDJSON, none for plain NDJSON), e.g. `".json"`.
    #[serde(default)]
    pub file_extension: Option<String>,
    /// Register the table and partitions in the Glue Data Catalog (Parquet only).
    #[serde(default)]
    pub catalog: Option<CatalogConfig>,
    #[serde(default)]
    pub backup: Option<BackupConfig>,
    /// Region override; default: the AWS SDK chain (`AWS_REGION`, profile, …).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override for S3-compatible stores; default: the AWS SDK chain
    /// (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`) or AWS itself.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Path-style addressing; default: on when an endpoint override is in effect.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Multipart part size (≥ 5 MiB); smaller objects are one PutObject.
    #[serde(default = "defaults::part_size")]
    pub part_size: HumanSize,
    /// Parts uploading at once per object.
    #[serde(default = "defaults::upload_concurrency")]
    pub upload_concurrency: usize,
    /// An S3 request attempt that has not finished in this long is abandoned and retried
    /// (a hung connection must not stall delivery). Default: 60s
    #[serde(default = "defaults::request_timeout")]
    pub request_timeout: HumanDuration,
    /// `AES256` or `aws:kms`.
    #[serde(default)]
    pub server_side_encryption: Option<String>,
    /// KMS key for `aws:kms`; default: the AWS-managed key.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// e.g. `STANDARD_IA`, `INTELLIGENT_TIERING`; default: the bucket's.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Tags put on every object.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Check at start that the bucket exists (HeadBucket), and stop with a clear error if not.
    #[serde(default = "defaults::yes")]
    pub check_bucket: bool,
}

/// A DynamoDB table: each record becomes an item, for key-value lookups of the latest state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamodbDestinationConfig {
    /// Table name; may use `!{timestamp:…}` and `!{partitionKeyFromQuery:…}` expressions.
    pub table: String,
    pub partition_key: KeyConfig,
    #[serde(default)]
    pub sort_key: Option<KeyConfig>,
    /// Top-level field → attribute name.
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
    /// Top-level fields kept; default: all.
    #[serde(default)]
    pub include: Option<Vec<String>>,
    /// Top-level fields dropped.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Attributes whose arrays of strings are written as string sets (`SS`).
    #[serde(default)]
    pub string_sets: Vec<String>,
    #[serde(default)]
    pub ttl: Option<TtlConfig>,
    /// `none` (last write wins, BatchWriteItem) or `sequence` (conditional writes by source
    /// position: an older record never overwrites a newer one).
    #[serde(default)]
    pub ordering: OrderingConfig,
    /// Attribute holding the source position in `sequence` mode.
    #[serde(default = "defaults::sequence_attribute")]
    pub sequence_attribute: String,
    /// Create the table (on-demand) if it does not exist; for development.
    #[serde(default)]
    pub create_table: bool,
    /// Conditional writes in flight at once in `sequence` mode.
    #[serde(default = "defaults::write_concurrency")]
    pub write_concurrency: usize,
    /// Firehose ErrorOutputPrefix for the dead letter.
    #[serde(default)]
    pub error_output_prefix: Option<String>,
    #[serde(default = "defaults::retry_duration")]
    pub retry_duration: HumanDuration,
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    #[serde(default)]
    pub buffering: BufferingConfig,
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override; default: the AWS SDK chain (`AWS_ENDPOINT_URL_DYNAMODB`, …).
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

/// A key attribute and the record field it is taken from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub attribute: String,
    /// jq-like path, e.g. `.order_id`.
    pub field: String,
    /// `S` (default) or `N`; used when creating the table.
    #[serde(rename = "type", default)]
    pub kind: KeyTypeConfig,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
pub enum KeyTypeConfig {
    #[default]
    S,
    N,
}

/// A TTL attribute: the record's time field plus `after`, in epoch seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtlConfig {
    pub attribute: String,
    pub field: String,
    pub after: HumanDuration,
}

#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OrderingConfig {
    #[default]
    None,
    Sequence,
}

/// The source-record backup: every raw record, gzip NDJSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Backup prefix (Firehose expressions allowed, timestamped by arrival time).
    pub prefix: String,
}

/// Firehose buffering hints, plus the memory limits that bound all open buffers together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferingConfig {
    /// Flush a partition's buffer at this many incoming bytes (1–128 MiB).
    #[serde(default = "defaults::buffer_size")]
    pub size: HumanSize,
    /// Flush a partition's buffer this long after its first record (0–900 s).
    #[serde(default = "defaults::buffer_interval")]
    pub interval: HumanDuration,
    /// All open buffers together, and the batches being encoded (each reckoned at 3× its
    /// incoming bytes); buffers above it flush early (largest first), and a batch waits for
    /// room before its encoding starts (unless nothing else is in flight).
    #[serde(default = "defaults::memory_budget")]
    pub memory_budget: HumanSize,
    /// Open partition buffers at most; above it the oldest flushes early.
    #[serde(default = "defaults::max_open_partitions")]
    pub max_open_partitions: usize,
}

impl Default for BufferingConfig {
    fn default() -> Self {
        BufferingConfig {
            size: defaults::buffer_size(),
            interval: defaults::buffer_interval(),
            memory_budget: defaults::memory_budget(),
            max_open_partitions: defaults::max_open_partitions(),
        }
    }
}

/// Output format of object destinations.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum FormatConfig {
    Parquet(ParquetFormatConfig),
    Ndjson(NdjsonFormatConfig),
}

impl Default for FormatConfig {
    fn default() -> Self {
        FormatConfig::Parquet(ParquetFormatConfig {
            compression: Codec::Snappy,
            compression_level: None,
            row_group_size: defaults::row_group_size(),
            schema: SchemaConfig::default(),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetFormatConfig {
    /// Page compression: `snappy` (default), `zstd`, `gzip` or `none`.
    #[serde(default)]
    pub compression: Codec,
    /// Compression level for zstd (1–22) or gzip (0–9).
    #[serde(default)]
    pub compression_level: Option<i32>,
    /// Cut a row group when its encoded size reaches this.
    #[serde(default = "defaults::row_group_size")]
    pub row_group_size: HumanSize,
    #[serde(default)]
    pub schema: SchemaConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NdjsonFormatConfig {
    /// Whole-object compression: `gzip`, `zstd`, `snappy` or `none` (default).
    #[serde(default = "defaults::no_codec")]
    pub compression: Codec,
    #[serde(default)]
    pub compression_level: Option<i32>,
}

/// The Parquet table schema: listed columns, an existing Glue table's, or inferred.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// Columns with Hive types. Empty (and no `glue_table`): infer the schema.
    #[serde(default)]
    pub columns: Vec<ColumnSpec>,
    /// Read the columns of this existing Glue table, `database.table`, at start.
    #[serde(default)]
    pub glue_table: Option<String>,
    /// Records of the first batch read to infer the schema (when no columns are listed).
    #[serde(default)]
    pub infer_sample: Option<usize>,
}

/// The table the objects are registered in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// `local` (Glue-shaped files in the lake; local destination only) or `glue` (the AWS
    /// Glue Data Catalog). Default: `local` for a local destination, `glue` for S3.
    #[serde(rename = "type", default)]
    pub kind: Option<CatalogKind>,
    pub database: String,
    pub table: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    Local,
    Glue,
}

/// Where records that cannot be delivered go; default: the destination itself (the lake
/// folder or the bucket), under `destination.error_output_prefix`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum DeadLetterConfig {
    Local(LocalDeadLetterConfig),
    S3(S3DeadLetterConfig),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalDeadLetterConfig {
    /// Root folder of the dead letter.
    pub path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3DeadLetterConfig {
    /// Bucket of the dead letter; reached with the destination's AWS settings (or the SDK
    /// chain for a local destination).
    pub bucket: String,
}

/// The Prometheus endpoint.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address for `/metrics` and `/healthz`, e.g. `127.0.0.1:9108`. Off for `run` unless
    /// set; `serve` defaults to `0.0.0.0:9108`.
    #[serde(default)]
    pub listen: Option<String>,
}

mod defaults {
    use super::{HumanDuration, HumanSize};
    use spillway_formats::compression::Codec;

    pub fn max_record_size() -> HumanSize {
        HumanSize(1 << 20)
    }
    pub fn retry_duration() -> HumanDuration {
        HumanDuration::from_secs(300)
    }
    pub fn concurrency() -> usize {
        2
    }
    pub fn buffer_size() -> HumanSize {
        HumanSize(64 << 20)
    }
    pub fn buffer_interval() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    pub fn memory_budget() -> HumanSize {
        HumanSize(512 << 20)
    }
    pub fn max_open_partitions() -> usize {
        1000
    }
    pub fn row_group_size() -> HumanSize {
        HumanSize(32 << 20)
    }
    pub fn no_codec() -> Codec {
        Codec::None
    }
    pub fn part_size() -> HumanSize {
        HumanSize(8 << 20)
    }
    pub fn upload_concurrency() -> usize {
        4
    }
    pub fn shutdown_timeout() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    pub fn request_timeout() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    pub fn yes() -> bool {
        true
    }
    pub fn ten_seconds() -> HumanDuration {
        HumanDuration::from_secs(10)
    }
    pub fn one_second() -> HumanDuration {
        HumanDuration::from_secs(1)
    }
    pub fn auto() -> String {
        "auto".into()
    }
    pub fn bulk_size() -> HumanSize {
        HumanSize(5 << 20)
    }
    pub fn bulk_documents() -> usize {
        10_000
    }
    pub fn sequence_attribute() -> String {
        "_spillway_seq".into()
    }
    pub fn write_concurrency() -> usize {
        16
    }
}
