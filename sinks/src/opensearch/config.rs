//! The OpenSearch / Elasticsearch section (`type = "opensearch"`): the endpoint (credentials
//! in its URL become basic auth, so the URL kept and shown has none), the index and its
//! rotation, document ids, bulk limits, authentication and TLS, the backup mode, and the
//! schema or mapping file the index template comes from.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use spillway_formats::decode::FieldPath;
use spillway_formats::prefix::{unescape_partition_value, NameRule};
use spillway_formats::schema::{ColumnSpec, TableSchema};

use super::template::mappings_from_schema;
use super::tls::parse_ca_pem;
use super::{Action, DocumentId, Dynamic, IndexTemplate, OpenSearchOptions, OpenSearchSink};
use crate::destination::{
    Backup, BuildContext, BuildError, Built, Destination, DestinationType, Features, ReadContext,
    Target,
};
use crate::settings::{field_names, read_section, HumanSize, Problems};

const KEY: &str = "destination";
const MIB: u64 = 1 << 20;

/// This folder's destination.
pub const TYPE: DestinationType = DestinationType {
    name: "opensearch",
    read: |table, ctx, p| Some(Box::new(read(table, ctx, p)?)),
    keys: || field_names::<OpenSearchDestinationConfig>().to_vec(),
};

/// An OpenSearch or Elasticsearch cluster, written with the `_bulk` API.
#[derive(Debug, Deserialize)]
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
    /// NDJSON, under `[destination.backup] prefix` — default `backup/` — in the dead
    /// letter's store).
    #[serde(default)]
    pub backup_mode: BackupModeConfig,
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

mod defaults {
    use crate::settings::HumanSize;

    pub fn auto() -> String {
        "auto".into()
    }
    pub fn bulk_size() -> HumanSize {
        HumanSize(5 << 20)
    }
    pub fn bulk_documents() -> usize {
        10_000
    }
}

/// A checked OpenSearch destination.
#[derive(Debug)]
pub struct OpenSearchDestination {
    pub options: OpenSearchOptions,
    /// The index name with its rotation suffix: the stream's evaluated-prefix template.
    pub index_template: String,
    pub all_documents: bool,
}

/// Reads and checks the section.
pub fn read(
    table: &toml::Value,
    ctx: &ReadContext,
    p: &mut Problems,
) -> Option<OpenSearchDestination> {
    let d: OpenSearchDestinationConfig = read_section(table, KEY, p).ok()?;
    let before = p.count();
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
            format!("{KEY}.endpoint"),
            format!("{:?} is not an http:// or https:// URL", d.endpoint),
        );
    }
    let ca_certificates = ca_certificates(&d, p);
    let index_ok = !d.index.is_empty()
        && !d.index.starts_with(['_', '-', '+'])
        && d.index.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.!{}:".contains(c)
        });
    if !index_ok {
        p.add(
            format!("{KEY}.index"),
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
                    format!("{KEY}.document_id"),
                    format!("is not auto, none or a field path: {e}"),
                );
                DocumentId::Auto
            }
        },
    };
    if d.bulk_size.0 < 1024 || d.bulk_size.0 > 100 * MIB {
        p.add(
            format!("{KEY}.bulk_size"),
            format!("{} is outside 1 KiB – 100 MiB", d.bulk_size),
        );
    }
    if d.bulk_documents == 0 {
        p.add(format!("{KEY}.bulk_documents"), "must be at least 1");
    }
    let authorization = match (&d.username, &d.password, &d.api_key) {
        (None, None, None) => None,
        (Some(user), Some(password), None) => Some(OpenSearchOptions::basic_auth(user, password)),
        (None, None, Some(key)) => Some(OpenSearchOptions::api_key(key)),
        _ => {
            p.add(
                format!("{KEY}.username"),
                "give username and password together, or api_key alone",
            );
            None
        }
    };
    let index_template = format!("{}{suffix}", d.index);
    let (schema, template) = mappings(&d, ctx.stream, &index_template, p);
    (p.count() == before).then_some(())?;
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
    Some(OpenSearchDestination {
        options,
        index_template,
        all_documents: d.backup_mode == BackupModeConfig::AllDocuments,
    })
}

fn ca_certificates(
    d: &OpenSearchDestinationConfig,
    p: &mut Problems,
) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    match &d.ca_file {
        None => Vec::new(),
        Some(_) if !d.endpoint.starts_with("https://") => {
            p.add(
                format!("{KEY}.ca_file"),
                "is only used with an https:// endpoint",
            );
            Vec::new()
        }
        Some(path) => match std::fs::read(path) {
            Err(e) => {
                p.add(
                    format!("{KEY}.ca_file"),
                    format!("cannot read {}: {e}", path.display()),
                );
                Vec::new()
            }
            Ok(pem) => parse_ca_pem(&pem).unwrap_or_else(|e| {
                p.add(format!("{KEY}.ca_file"), format!("{}: {e}", path.display()));
                Vec::new()
            }),
        },
    }
}

/// The schema records are checked against and the index template to install, from
/// `schema` or `mapping_file` (with `dynamic`); none without either.
fn mappings(
    d: &OpenSearchDestinationConfig,
    stream: &str,
    index_template: &str,
    p: &mut Problems,
) -> (Option<Arc<TableSchema>>, Option<IndexTemplate>) {
    let dynamic = match d.dynamic {
        None | Some(DynamicConfig::False) => Dynamic::False,
        Some(DynamicConfig::True) => Dynamic::True,
        Some(DynamicConfig::Strict) => Dynamic::Strict,
    };
    let (schema, mappings) = match (&d.schema, &d.mapping_file) {
        (Some(_), Some(_)) => {
            p.add(
                format!("{KEY}.mapping_file"),
                "give either schema or mapping_file, not both",
            );
            return (None, None);
        }
        (None, None) => {
            if d.dynamic.is_some() {
                p.add(
                    format!("{KEY}.dynamic"),
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
                p.add(format!("{KEY}.schema.columns"), e.to_string());
                return (None, None);
            }
        },
        (None, Some(path)) => match mapping_file(path, d.dynamic.is_some(), dynamic) {
            Ok(mappings) => (None, mappings),
            Err(e) => {
                p.add(format!("{KEY}.mapping_file"), e.to_string());
                return (None, None);
            }
        },
    };
    // The template covers the stream's indices: its literal start, then any suffix.
    let root = index_template.split("!{").next().unwrap_or_default();
    if root.is_empty() {
        p.add(
            format!("{KEY}.index"),
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

/// What is wrong with a mapping file.
#[derive(Debug, thiserror::Error)]
enum MappingFileError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0} is not JSON: {1}")]
    NotJson(String, serde_json::Error),
    #[error("{0} must hold a JSON object (the mappings)")]
    NotAnObject(String),
}

/// The mappings object of a mapping file, with `dynamic` set when configured (or missing).
fn mapping_file(
    path: &std::path::Path,
    configured: bool,
    dynamic: Dynamic,
) -> Result<serde_json::Value, MappingFileError> {
    let name = || path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| MappingFileError::Read(name(), e))?;
    let parsed: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| MappingFileError::NotJson(name(), e))?;
    let serde_json::Value::Object(mut mappings) = parsed else {
        return Err(MappingFileError::NotAnObject(name()));
    };
    if configured || !mappings.contains_key("dynamic") {
        mappings.insert("dynamic".into(), dynamic.as_str().into());
    }
    Ok(serde_json::Value::Object(mappings))
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
    (
        format!("{scheme}://{}", &rest[at + 1..]),
        Some((
            unescape_partition_value(user),
            unescape_partition_value(password),
        )),
    )
}

#[async_trait]
impl Destination for OpenSearchDestination {
    fn target(&self) -> Target {
        Target {
            key: "destination.index",
            template: Some(self.index_template.clone()),
            rule: NameRule::IndexName,
        }
    }

    fn features(&self) -> Features {
        let backup = match self.all_documents {
            true => Backup::Always {
                default_prefix: "backup/",
            },
            false => Backup::Refused("is only used with backup_mode = \"AllDocuments\""),
        };
        Features {
            exactly_once: false,
            backup,
            object_names: false,
        }
    }

    fn has_store(&self) -> bool {
        false
    }

    async fn build(&self, _ctx: &BuildContext<'_>) -> Result<Built, BuildError> {
        let sink = OpenSearchSink::new(self.options.clone())
            .map_err(|e| BuildError::setting("destination.ca_file", e))?;
        // A template the cluster refuses is a configuration error; a cluster that cannot be
        // reached yet gets the template before the first delivery instead.
        match sink.install_template().await {
            Err(e) if !e.is_retryable() => {
                return Err(BuildError::setting(
                    "destination.schema",
                    format!("the cluster refused the index template: {e}"),
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot install the index template yet; it is installed before the first delivery")
            }
            Ok(()) => {}
        }
        Ok(Built {
            sink: Arc::new(sink),
            store: None,
            location: format!("{} index {}", self.options.endpoint, self.index_template),
            catalog: None,
            query: None,
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
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
