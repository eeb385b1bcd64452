//! Validation of each source and destination section: the Kinesis source, and the local,
//! S3 and DynamoDB destinations — what each accepts, and the settings every destination
//! shares (`Common`).

use spillway_sinks::opensearch::tls::parse_ca_pem;
use spillway_sinks::opensearch::{Action, DocumentId};

use super::*;
use crate::config::{
    ActionConfig, BackupConfig, BackupModeConfig, OpenSearchDestinationConfig, RotationConfig,
};

pub(super) fn kinesis_source(
    k: KinesisSourceConfig,
    name: &str,
    p: &mut Problems,
) -> Option<(KinesisSettings, AwsConnection)> {
    let key = "source";
    let before = p.0.len();
    if k.stream.is_empty() {
        p.add(
            format!("{key}.stream"),
            "must name a stream (or give its ARN)",
        );
    }
    let start = match (k.start_position, k.start_timestamp.as_deref()) {
        (StartPositionConfig::TrimHorizon, None) => StartPosition::TrimHorizon,
        (StartPositionConfig::Latest, None) => StartPosition::Latest,
        (StartPositionConfig::AtTimestamp, Some(text)) => match parse_time_text(text) {
            Some(ms) => StartPosition::AtTimestamp(ms),
            None => {
                p.add(
                    format!("{key}.start_timestamp"),
                    format!("{text:?} is not an ISO-8601 time"),
                );
                StartPosition::TrimHorizon
            }
        },
        (StartPositionConfig::AtTimestamp, None) => {
            p.add(
                format!("{key}.start_timestamp"),
                "is required with start_position = \"AT_TIMESTAMP\"",
            );
            StartPosition::TrimHorizon
        }
        (_, Some(_)) => {
            p.add(
                format!("{key}.start_timestamp"),
                "only applies with start_position = \"AT_TIMESTAMP\"",
            );
            StartPosition::TrimHorizon
        }
    };
    let table_ok = (3..=255).contains(&k.lease_table.len())
        && k.lease_table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !table_ok {
        p.add(
            format!("{key}.lease_table"),
            format!("{:?} is not a valid DynamoDB table name", k.lease_table),
        );
    }
    if k.checkpoint_interval.0 < Duration::from_millis(100) {
        p.add(
            format!("{key}.checkpoint_interval"),
            "must be at least 100ms",
        );
    }
    let settings = KinesisSettings {
        stream: k.stream,
        mode: match k.mode {
            KinesisModeConfig::Efo => ReadMode::EnhancedFanOut,
            KinesisModeConfig::Polling => ReadMode::Polling,
        },
        consumer_name: k
            .consumer_name
            .unwrap_or_else(|| format!("spillway-{name}")),
        start,
        lease_table: k.lease_table,
        worker_id: k.worker_id.unwrap_or_else(default_worker_id),
        checkpoint_interval: k.checkpoint_interval.0,
        discovery_interval: k.shard_discovery_interval.0,
        poll_interval: k.poll_interval.0,
    };
    let connection = AwsConnection {
        region: k.region,
        endpoint_url: k.endpoint_url,
        force_path_style: None,
        request_timeout: None,
    };
    (p.0.len() == before).then_some((settings, connection))
}

/// `host:pid`, the KCL's kind of worker identifier.
fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "spillway".into());
    format!("{host}:{}", std::process::id())
}

pub(super) fn dynamodb_destination(
    d: DynamodbDestinationConfig,
    p: &mut Problems,
) -> (DestinationSettings, Common, CatalogKind) {
    let key = "destination";
    let static_name = !d.table.contains("!{");
    let name_ok = (3..=255).contains(&d.table.len())
        && d.table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if static_name && !name_ok {
        p.add(
            format!("{key}.table"),
            format!(
                "{:?} is not a valid table name (3–255 characters of A–Z, a–z, 0–9, _ . -)",
                d.table
            ),
        );
    }
    let mut field = |path: &str, text: &str| {
        FieldPath::parse(text)
            .map_err(|e| p.add(format!("{key}.{path}"), e.to_string()))
            .ok()
    };
    let partition_field = field("partition_key.field", &d.partition_key.field);
    let sort_field = d
        .sort_key
        .as_ref()
        .map(|k| field("sort_key.field", &k.field));
    let ttl_field = d.ttl.as_ref().map(|t| field("ttl.field", &t.field));
    let key_type = |k: &KeyConfig| match k.kind {
        KeyTypeConfig::S => KeyType::String,
        KeyTypeConfig::N => KeyType::Number,
    };
    if !(1..=256).contains(&d.write_concurrency) {
        p.add(
            format!("{key}.write_concurrency"),
            format!("{} is outside 1–256", d.write_concurrency),
        );
    }
    let ordering = match d.ordering {
        OrderingConfig::None => Ordering::None,
        OrderingConfig::Sequence => Ordering::Sequence,
    };
    let mapping = ItemMapping {
        partition_key: KeyField {
            attribute: d.partition_key.attribute.clone(),
            field: partition_field
                .unwrap_or_else(|| FieldPath::parse(".invalid").expect("a valid path")),
        },
        sort_key: match (&d.sort_key, sort_field.flatten()) {
            (Some(k), Some(field)) => Some(KeyField {
                attribute: k.attribute.clone(),
                field,
            }),
            _ => None,
        },
        renames: d.rename,
        include: d.include,
        exclude: d.exclude,
        string_sets: d.string_sets,
        ttl: match (d.ttl, ttl_field.flatten()) {
            (Some(t), Some(field)) => Some(TtlField {
                attribute: t.attribute,
                field,
                add: t.after.0,
            }),
            _ => None,
        },
        sequence_attribute: (ordering == Ordering::Sequence).then_some(d.sequence_attribute),
    };
    let create_table = d.create_table.then(|| {
        (
            key_type(&d.partition_key),
            d.sort_key.as_ref().map(key_type),
        )
    });
    let settings = DestinationSettings::Dynamodb {
        mapping: Box::new(mapping),
        ordering,
        write_concurrency: d.write_concurrency,
        create_table,
        connection: AwsConnection {
            region: d.region,
            endpoint_url: d.endpoint_url,
            force_path_style: None,
            request_timeout: None,
        },
    };
    let common = Common {
        prefix: Some(d.table),
        prefix_key: "destination.table",
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: None,
        exactly_once: false,
        catalog: None,
        backup: None,
    };
    (settings, common, CatalogKind::Glue)
}

pub(super) fn local_destination(
    d: LocalDestinationConfig,
) -> (DestinationSettings, Common, CatalogKind) {
    let common = Common {
        prefix: d.prefix,
        prefix_key: "destination.prefix",
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: Some(d.format),
        exactly_once: d.exactly_once,
        catalog: d.catalog,
        backup: d.backup,
    };
    (
        DestinationSettings::Local { root: d.path },
        common,
        CatalogKind::Local,
    )
}

pub(super) fn s3_destination(
    d: S3DestinationConfig,
    p: &mut Problems,
) -> (DestinationSettings, Common, CatalogKind) {
    let key = "destination";
    let bucket_ok = (3..=63).contains(&d.bucket.len())
        && d.bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !bucket_ok {
        p.add(
            format!("{key}.bucket"),
            format!(
                "{:?} is not a valid bucket name (3–63 characters of a–z, 0–9, - and .)",
                d.bucket
            ),
        );
    }
    if (d.part_size.0 as usize) < MIN_PART_SIZE || d.part_size.0 > 5 * 1024 * MIB {
        p.add(
            format!("{key}.part_size"),
            format!("{} is outside S3's 5 MiB – 5 GiB part size", d.part_size),
        );
    }
    if !(1..=64).contains(&d.upload_concurrency) {
        p.add(
            format!("{key}.upload_concurrency"),
            format!("{} is outside 1–64", d.upload_concurrency),
        );
    }
    let encryption = match d.server_side_encryption.as_deref() {
        None => {
            if d.kms_key_id.is_some() {
                p.add(
                    format!("{key}.kms_key_id"),
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
                format!("{key}.server_side_encryption"),
                format!("{other:?} is not one of \"AES256\", \"aws:kms\""),
            );
            None
        }
    };
    let options = S3Options {
        bucket: d.bucket,
        part_size: d.part_size.0 as usize,
        upload_concurrency: d.upload_concurrency,
        encryption,
        storage_class: d.storage_class,
        tags: d.tags.into_iter().collect(),
    };
    if d.request_timeout.0 < Duration::from_secs(1) {
        p.add(
            format!("{key}.request_timeout"),
            format!("{} is below 1 s", d.request_timeout),
        );
    }
    let connection = AwsConnection {
        region: d.region,
        endpoint_url: d.endpoint_url,
        force_path_style: d.force_path_style,
        request_timeout: Some(d.request_timeout.0),
    };
    let common = Common {
        prefix: d.prefix,
        prefix_key: "destination.prefix",
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: Some(d.format),
        exactly_once: d.exactly_once,
        catalog: d.catalog,
        backup: d.backup,
    };
    (
        DestinationSettings::S3 {
            options,
            connection,
            check_bucket: d.check_bucket,
        },
        common,
        CatalogKind::Glue,
    )
}

pub(super) fn opensearch_destination(
    d: OpenSearchDestinationConfig,
    p: &mut Problems,
) -> (DestinationSettings, Common, CatalogKind) {
    let key = "destination";
    if !(d.endpoint.starts_with("http://") || d.endpoint.starts_with("https://")) {
        p.add(
            format!("{key}.endpoint"),
            format!("{:?} is not an http:// or https:// URL", d.endpoint),
        );
    }
    let ca_certificates = match &d.ca_file {
        None => Vec::new(),
        Some(_) if !d.endpoint.starts_with("https://") => {
            p.add(
                format!("{key}.ca_file"),
                "is only used with an https:// endpoint",
            );
            Vec::new()
        }
        Some(path) => match std::fs::read(path) {
            Err(e) => {
                p.add(
                    format!("{key}.ca_file"),
                    format!("cannot read {}: {e}", path.display()),
                );
                Vec::new()
            }
            Ok(pem) => parse_ca_pem(&pem).unwrap_or_else(|e| {
                p.add(format!("{key}.ca_file"), format!("{}: {e}", path.display()));
                Vec::new()
            }),
        },
    };
    let index_ok = !d.index.is_empty()
        && !d.index.starts_with(['_', '-', '+'])
        && d.index.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || "_-.".contains(c)
                || c == '!'
                || c == '{'
                || c == '}'
                || c == ':'
        });
    if !index_ok {
        p.add(
            format!("{key}.index"),
            format!(
                "{:?} is not a valid index name (lower case, no leading _ - +)",
                d.index
            ),
        );
    }
    let suffix = match d.rotation {
        RotationConfig::NoRotation => "",
        RotationConfig::OneHour => "-!{timestamp:yyyy-MM-dd-HH}",
        RotationConfig::OneDay => "-!{timestamp:yyyy-MM-dd}",
        RotationConfig::OneWeek => "-!{timestamp:YYYY-'w'ww}",
        RotationConfig::OneMonth => "-!{timestamp:yyyy-MM}",
    };
    let document_id = match d.document_id.as_str() {
        "auto" => DocumentId::Auto,
        "none" => DocumentId::None,
        path => match FieldPath::parse(path) {
            Ok(path) => DocumentId::Field(path),
            Err(e) => {
                p.add(
                    format!("{key}.document_id"),
                    format!("is not auto, none or a field path: {e}"),
                );
                DocumentId::Auto
            }
        },
    };
    if d.bulk_size.0 < 1024 || d.bulk_size.0 > 100 * MIB {
        p.add(
            format!("{key}.bulk_size"),
            format!("{} is outside 1 KiB – 100 MiB", d.bulk_size),
        );
    }
    if d.bulk_documents == 0 {
        p.add(format!("{key}.bulk_documents"), "must be at least 1");
    }
    let authorization = match (&d.username, &d.password, &d.api_key) {
        (None, None, None) => None,
        (Some(user), Some(password), None) => Some(OpenSearchOptions::basic_auth(user, password)),
        (None, None, Some(key)) => Some(OpenSearchOptions::api_key(key)),
        _ => {
            p.add(
                format!("{key}.username"),
                "give username and password together, or api_key alone",
            );
            None
        }
    };
    let options = OpenSearchOptions {
        endpoint: d.endpoint,
        document_id,
        action: match d.action {
            ActionConfig::Index => Action::Index,
            ActionConfig::Create => Action::Create,
        },
        bulk_bytes: d.bulk_size.0 as usize,
        bulk_documents: d.bulk_documents,
        authorization,
        ca_certificates,
    };
    let common = Common {
        prefix: Some(format!("{}{suffix}", d.index)),
        prefix_key: "destination.index",
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: None,
        exactly_once: false,
        catalog: None,
        backup: match d.backup_mode {
            BackupModeConfig::AllDocuments => Some(d.backup.unwrap_or(BackupConfig {
                prefix: "backup/".into(),
            })),
            BackupModeConfig::FailedDocumentsOnly => {
                if d.backup.is_some() {
                    p.add(
                        format!("{key}.backup"),
                        "is only used with backup_mode = \"AllDocuments\"",
                    );
                }
                None
            }
        },
    };
    (
        DestinationSettings::Opensearch(Box::new(options)),
        common,
        CatalogKind::Glue,
    )
}
