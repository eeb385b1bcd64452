//! Validation of each source and destination section: the Kinesis source, and the local,
//! S3 and DynamoDB destinations — what each accepts, and the settings every destination
//! shares (`Common`).

use spillway_formats::prefix::NameRule;
use spillway_sinks::opensearch::tls::parse_ca_pem;
use spillway_sinks::opensearch::{Action, DocumentId};

use super::*;
use crate::config::{
    ActionConfig, BackupConfig, BackupModeConfig, DynamicConfig, OpenSearchDestinationConfig,
    RotationConfig,
};
use spillway_sinks::opensearch::template::mappings_from_schema;
use spillway_sinks::opensearch::{Dynamic, IndexTemplate};

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
    format!("{}:{}", crate::host::host_name(), std::process::id())
}

/// The schema records are checked against and the index template to install, from
/// `schema` or `mapping_file` (with `dynamic`); none without either.
fn opensearch_mappings(
    d: &OpenSearchDestinationConfig,
    stream: &str,
    index_template: &str,
    p: &mut Problems,
) -> (Option<Arc<TableSchema>>, Option<IndexTemplate>) {
    let key = "destination";
    let dynamic = match d.dynamic {
        None | Some(DynamicConfig::False) => Dynamic::False,
        Some(DynamicConfig::True) => Dynamic::True,
        Some(DynamicConfig::Strict) => Dynamic::Strict,
    };
    let (schema, mappings) = match (&d.schema, &d.mapping_file) {
        (Some(_), Some(_)) => {
            p.add(
                format!("{key}.mapping_file"),
                "give either schema or mapping_file, not both",
            );
            return (None, None);
        }
        (None, None) => {
            if d.dynamic.is_some() {
                p.add(
                    format!("{key}.dynamic"),
                    "only applies with a schema or a mapping_file",
                );
            }
            return (None, None);
        }
        (Some(columns), None) => match TableSchema::from_columns(&columns.columns) {
            Ok(schema) => {
                let mappings = mappings_from_schema(&schema, dynamic);
                (Some(Arc::new(schema)), mappings)
            }
            Err(e) => {
                p.add(format!("{key}.schema.columns"), e.to_string());
                return (None, None);
            }
        },
        (None, Some(path)) => {
            let parsed = std::fs::read(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|bytes| {
                    serde_json::from_slice::<serde_json::Value>(&bytes)
                        .map_err(|e| format!("{} is not JSON: {e}", path.display()))
                });
            match parsed {
                Ok(serde_json::Value::Object(mut mappings)) => {
                    if d.dynamic.is_some() || !mappings.contains_key("dynamic") {
                        mappings.insert("dynamic".into(), dynamic.as_str().into());
                    }
                    (None, serde_json::Value::Object(mappings))
                }
                Ok(_) => {
                    p.add(
                        format!("{key}.mapping_file"),
                        format!("{} must hold a JSON object (the mappings)", path.display()),
                    );
                    return (None, None);
                }
                Err(e) => {
                    p.add(format!("{key}.mapping_file"), e);
                    return (None, None);
                }
            }
        }
    };
    // The template covers the stream's indices: its literal start, then any suffix.
    let root = index_template.split("!{").next().unwrap_or_default();
    if root.is_empty() {
        p.add(
            format!("{key}.index"),
            "must start with literal text when a schema or mapping_file is given (the index template matches the indices by it)",
        );
        return (schema, None);
    }
    let pattern = match root.len() == index_template.len() {
        true => root.to_string(),
        false => format!("{root}*"),
    };
    let template = IndexTemplate::new(stream, root, pattern, mappings);
    (schema, Some(template))
}

/// Splits `scheme://user:password@host…` into the URL without its userinfo and the
/// (percent-decoded) user and password; a URL without userinfo is returned as it is.
fn split_userinfo(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return (url.to_string(), None);
    };
    let (user, password) = rest[..at].split_once(':').unwrap_or((&rest[..at], ""));
    let decode = spillway_formats::prefix::unescape_partition_value;
    (
        format!("{scheme}://{}", &rest[at + 1..]),
        Some((decode(user), decode(password))),
    )
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
        name_rule: NameRule::TableName,
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: None,
        exactly_once: false,
        catalog: None,
        backup: None,
        time_zone: None,
        file_extension: None,
    };
    (settings, common, CatalogKind::Glue)
}

pub(super) fn local_destination(
    d: LocalDestinationConfig,
    p: &mut Problems,
) -> (DestinationSettings, Common, CatalogKind) {
    check_folder("destination.path", &d.path, p);
    let common = Common {
        prefix: d.prefix,
        prefix_key: "destination.prefix",
        name_rule: NameRule::ObjectKey,
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: Some(d.format),
        exactly_once: d.exactly_once,
        catalog: d.catalog,
        backup: d.backup,
        time_zone: d.time_zone,
        file_extension: d.file_extension,
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
        name_rule: NameRule::ObjectKey,
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: Some(d.format),
        exactly_once: d.exactly_once,
        catalog: d.catalog,
        backup: d.backup,
        time_zone: d.time_zone,
        file_extension: d.file_extension,
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
    stream: &str,
    p: &mut Problems,
) -> (DestinationSettings, Common, CatalogKind) {
    let key = "destination";
    // Credentials in the URL become basic auth; the endpoint kept (and ever shown) has none.
    let (endpoint, url_credentials) = split_userinfo(&d.endpoint);
    let d = OpenSearchDestinationConfig {
        endpoint,
        username: d.username.or(url_credentials.as_ref().map(|c| c.0.clone())),
        password: d.password.or(url_credentials.map(|c| c.1)),
        ..d
    };
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
    let index_template = format!("{}{suffix}", d.index);
    let (schema, template) = opensearch_mappings(&d, stream, &index_template, p);
    let options = OpenSearchOptions {
        schema,
        template,
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
        prefix: Some(index_template),
        prefix_key: "destination.index",
        name_rule: NameRule::IndexName,
        error_output_prefix: d.error_output_prefix,
        retry_duration: d.retry_duration,
        concurrency: d.concurrency,
        buffering: d.buffering,
        format: None,
        exactly_once: false,
        catalog: None,
        time_zone: None,
        file_extension: None,
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

#[cfg(test)]
mod tests {
    use super::split_userinfo;

    #[test]
    fn userinfo_leaves_the_endpoint_for_basic_auth() {
        assert_eq!(
            split_userinfo("https://admin:p%40ss@search.example:9200/x"),
            (
                "https://search.example:9200/x".to_string(),
                Some(("admin".to_string(), "p@ss".to_string()))
            )
        );
        assert_eq!(
            split_userinfo("http://h:9200"),
            ("http://h:9200".to_string(), None)
        );
        assert_eq!(
            split_userinfo("http://h:9200/a@b"),
            ("http://h:9200/a@b".to_string(), None)
        );
    }
}
