//! The object destinations' sections: `type = "local"` (a folder) and `type = "s3"` (a
//! bucket), with the format their objects take (Parquet with a schema, or NDJSON with a
//! codec) and the catalog their partitions are registered in. Read and checked here into an
//! [`ObjectDestination`](super::ObjectDestination).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use spillway_formats::compression::Codec;
use spillway_formats::encode::ParquetCompression;
use spillway_formats::schema::{ColumnSpec, TableSchema};

use super::{CatalogKind, FormatSettings, ObjectDestination, SchemaChoice, StoreSpec};
use crate::aws::AwsConnection;
use crate::catalog::CatalogTarget;
use crate::settings::{check_folder, field_names, read_section, HumanDuration, HumanSize, Problems};
use crate::store::{Encryption, S3Options, MIN_PART_SIZE};

const MIB: u64 = 1 << 20;
const KEY: &str = "destination";

/// What every object destination takes: where objects go in the store, what they are, and
/// the table their partitions are registered in.
#[derive(Debug, Deserialize)]
pub struct ObjectConfig {
    /// Firehose prefix template; default `!{timestamp:yyyy/MM/dd/HH}/`.
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub format: FormatConfig,
    /// Register the table and its partitions (Parquet only): in `<path>/_catalog/` for a
    /// local destination, in the Glue Data Catalog for S3.
    #[serde(default)]
    pub catalog: Option<CatalogConfig>,
}

/// A local data lake: a folder of partitioned objects plus a Glue-style file catalog.
#[derive(Debug, Deserialize)]
pub struct LocalDestinationConfig {
    /// The lake's root folder.
    pub path: PathBuf,
}

/// An S3 bucket (or an S3-compatible store), with an optional Glue Data Catalog table.
#[derive(Debug, Deserialize)]
pub struct S3DestinationConfig {
    pub bucket: String,
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
    /// Glue Data Catalog; S3 only). Default: `local` for a local destination, `glue` for S3.
    #[serde(rename = "type", default)]
    pub kind: Option<CatalogKind>,
    pub database: String,
    pub table: String,
}

mod defaults {
    use super::{HumanDuration, HumanSize};
    use spillway_formats::compression::Codec;

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
    pub fn request_timeout() -> HumanDuration {
        HumanDuration::from_secs(60)
    }
    pub fn yes() -> bool {
        true
    }
}

pub fn local_keys() -> Vec<&'static str> {
    [field_names::<LocalDestinationConfig>(), field_names::<ObjectConfig>()].concat()
}

pub fn s3_keys() -> Vec<&'static str> {
    [field_names::<S3DestinationConfig>(), field_names::<ObjectConfig>()].concat()
}

/// Reads a `type = "local"` section.
pub fn read_local(table: &toml::Value, p: &mut Problems) -> Option<ObjectDestination> {
    let d: LocalDestinationConfig = read_section(table, KEY, p).ok()?;
    let o: ObjectConfig = read_section(table, KEY, p).ok()?;
    check_folder("destination.path", &d.path, p);
    let before = p.count();
    let format = check_format(o.format, p);
    let catalog = o
        .catalog
        .map(|c| check_catalog(c, CatalogKind::Local, &format, false, p));
    if let Some(Some(FormatSettings::Parquet {
        schema: SchemaChoice::GlueTable { .. },
        ..
    })) = &format
    {
        p.add(
            "destination.format.schema.glue_table",
            "needs an S3 destination (its AWS settings reach Glue)",
        );
    }
    (p.count() == before).then_some(())?;
    Some(ObjectDestination {
        store: StoreSpec::Local { root: d.path },
        prefix: o.prefix,
        format: format.flatten()?,
        catalog: catalog.flatten(),
    })
}

/// Reads a `type = "s3"` section.
pub fn read_s3(table: &toml::Value, p: &mut Problems) -> Option<ObjectDestination> {
    let d: S3DestinationConfig = read_section(table, KEY, p).ok()?;
    let o: ObjectConfig = read_section(table, KEY, p).ok()?;
    let before = p.count();
    let bucket_ok = (3..=63).contains(&d.bucket.len())
        && d.bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !bucket_ok {
        p.add(
            format!("{KEY}.bucket"),
            format!(
                "{:?} is not a valid bucket name (3–63 characters of a–z, 0–9, - and .)",
                d.bucket
            ),
        );
    }
    if (d.part_size.0 as usize) < MIN_PART_SIZE || d.part_size.0 > 5 * 1024 * MIB {
        p.add(
            format!("{KEY}.part_size"),
            format!("{} is outside S3's 5 MiB – 5 GiB part size", d.part_size),
        );
    }
    if !(1..=64).contains(&d.upload_concurrency) {
        p.add(
            format!("{KEY}.upload_concurrency"),
            format!("{} is outside 1–64", d.upload_concurrency),
        );
    }
    let encryption = match d.server_side_encryption.as_deref() {
        None => {
            if d.kms_key_id.is_some() {
                p.add(
                    format!("{KEY}.kms_key_id"),
                    "needs server_side_encryption = \"aws:kms\"",
                );
            }
            None
        }
        Some("AES256") => Some(Encryption::Aes256),
        Some("aws:kms") => Some(Encryption::Kms {
            key_id: d.kms_key_id.clone(),
        }),
        Some(other) => {
            p.add(
                format!("{KEY}.server_side_encryption"),
                format!("{other:?} is not one of \"AES256\", \"aws:kms\""),
            );
            None
        }
    };
    if d.request_timeout.0 < Duration::from_secs(1) {
        p.add(
            format!("{KEY}.request_timeout"),
            format!("{} is below 1 s", d.request_timeout),
        );
    }
    let format = check_format(o.format, p);
    let catalog = o
        .catalog
        .map(|c| check_catalog(c, CatalogKind::Glue, &format, true, p));
    (p.count() == before).then_some(())?;
    let options = S3Options {
        bucket: d.bucket,
        part_size: d.part_size.0 as usize,
        upload_concurrency: d.upload_concurrency,
        encryption,
        storage_class: d.storage_class,
        tags: d.tags.into_iter().collect(),
    };
    let connection = AwsConnection {
        region: d.region,
        endpoint_url: d.endpoint_url,
        force_path_style: d.force_path_style,
        request_timeout: Some(d.request_timeout.0),
    };
    Some(ObjectDestination {
        store: StoreSpec::S3 {
            options,
            connection,
            check_bucket: d.check_bucket,
        },
        prefix: o.prefix,
        format: format.flatten()?,
        catalog: catalog.flatten(),
    })
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

/// The catalog, checked against the format and the store (`s3`: whether it is S3).
fn check_catalog(
    c: CatalogConfig,
    default: CatalogKind,
    format: &Option<Option<FormatSettings>>,
    s3: bool,
    p: &mut Problems,
) -> Option<(CatalogKind, CatalogTarget)> {
    let kind = c.kind.unwrap_or(default);
    for (key, name) in [("database", &c.database), ("table", &c.table)] {
        if let Some(problem) = catalog_name_problem(name) {
            p.add(format!("{KEY}.catalog.{key}"), problem);
        }
    }
    if !matches!(format, Some(Some(FormatSettings::Parquet { .. }))) {
        p.add(
            "destination.catalog",
            "needs destination.format.type = \"parquet\"",
        );
    }
    match (kind, s3) {
        (CatalogKind::Local, true) => p.add(
            "destination.catalog.type",
            "\"local\" needs a local destination; use \"glue\" with S3",
        ),
        (CatalogKind::Glue, false) => p.add(
            "destination.catalog.type",
            "\"glue\" needs an S3 destination (Glue partitions point at S3 locations); use \"local\" with a local destination",
        ),
        _ => {}
    }
    Some((
        kind,
        CatalogTarget {
            database: c.database,
            table: c.table,
        },
    ))
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

/// The format, checked; `Some(None)` never (every object destination has one), `None` when
/// a problem was reported.
fn check_format(format: FormatConfig, p: &mut Problems) -> Option<Option<FormatSettings>> {
    let key = "destination.format";
    let level_key = format!("{key}.compression_level");
    match format {
        FormatConfig::Ndjson(NdjsonFormatConfig {
            compression,
            compression_level,
        }) => {
            check_level(compression, compression_level, &level_key, p);
            Some(Some(FormatSettings::Ndjson {
                codec: compression,
                level: compression_level,
            }))
        }
        FormatConfig::Parquet(ParquetFormatConfig {
            compression,
            compression_level,
            row_group_size,
            schema,
        }) => {
            check_level(compression, compression_level, &level_key, p);
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
            let choice = check_schema(schema, p)?;
            Some(Some(FormatSettings::Parquet {
                compression,
                row_group_bytes: row_group_size.0 as usize,
                schema: choice,
            }))
        }
    }
}

fn check_schema(schema: SchemaConfig, p: &mut Problems) -> Option<SchemaChoice> {
    let key = "destination.format.schema";
    let choice = match (schema.columns.is_empty(), schema.glue_table) {
        (false, Some(_)) => {
            p.add(key, "give either columns or glue_table, not both");
            return None;
        }
        (false, None) => match TableSchema::from_columns(&schema.columns) {
            Ok(t) => SchemaChoice::Columns(Arc::new(t)),
            Err(e) => {
                p.add(format!("{key}.columns"), e.to_string());
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
                    format!("{key}.glue_table"),
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
            format!("{key}.infer_sample"),
            "only applies when the schema is inferred",
        );
    }
    Some(choice)
}
