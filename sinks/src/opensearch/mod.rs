//! The OpenSearch / Elasticsearch destination: batches are sent with the `_bulk` API, one
//! request per ≤ `bulk_bytes` and ≤ `bulk_documents`; the batch key is the index name (with
//! Firehose's rotation suffix already evaluated by the partitioner). Only the items that
//! failed retryably are retried (the retry policy re-sends just those); 4xx items go to the
//! dead letter at once as `AmazonOpenSearchService-failed`, with `esDocumentId` and `esIndexName`.
//! Deterministic `auto` ids (from shard, sequence and sub-sequence) make a redelivery
//! overwrite instead of duplicate.
//!
//! The HTTP client is hyper's: plain `application/json` / `application/x-ndjson` content types,
//! which both Elasticsearch 7/8 and OpenSearch 1/2 accept (OpenSearch refuses Elasticsearch's
//! vendored `compatible-with` media types).
//!
//! With a schema, the destination controls its mappings: an index template built from the
//! schema (or read from a mapping file, see [`template`]) is installed before the first bulk
//! request, and records that do not fit the schema go to the dead letter as
//! `format-conversion-failed` before they reach the cluster — the same check the Parquet
//! encoder makes.

pub mod config;
pub mod response;
pub mod template;
pub mod tls;


/// This folder's destination.
pub const TYPES: &[crate::destination::DestinationType] = &[config::TYPE];

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use md5::{Digest, Md5};
use spillway_formats::decode::FieldPath;
use spillway_formats::encode::schema_rejections;
use spillway_formats::record::{Batch, ErrorOutputType};
use spillway_formats::schema::TableSchema;
use tokio::sync::OnceCell;

pub use self::response::{classify, Action, ItemOutcome};
pub use self::template::{Dynamic, IndexTemplate};
use crate::sink::{Delivery, ErrorClass, FailedItem, Sink, SinkError};

/// An error with its causes, `outer: inner: innermost` (hyper's own message is only "client
/// error (Connect)"; the cause says refused, timed out, or which certificate problem).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How documents get their `_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentId {
    /// From shard, sequence and sub-sequence: a redelivery overwrites (Firehose's default).
    Auto,
    /// Let the cluster choose (a redelivery duplicates).
    None,
    /// From a record field.
    Field(FieldPath),
}

#[derive(Clone, Debug)]
pub struct OpenSearchOptions {
    /// Base URL, e.g. `http://127.0.0.1:9200`.
    pub endpoint: String,
    pub document_id: DocumentId,
    pub action: Action,
    pub bulk_bytes: usize,
    pub bulk_documents: usize,
    /// `Authorization` header value (basic or API key).
    pub authorization: Option<String>,
    /// CA certificates trusted for an https:// endpoint besides the system's.
    pub ca_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Records are checked against this schema before a bulk request; those that do not
    /// fit go to the dead letter as `format-conversion-failed`.
    pub schema: Option<Arc<TableSchema>>,
    /// Installed (idempotently) before the first bulk request.
    pub template: Option<IndexTemplate>,
}

impl OpenSearchOptions {
    pub fn basic_auth(username: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        )
    }

    pub fn api_key(key: &str) -> String {
        format!("ApiKey {key}")
    }
}

/// Why a record has no document id.
#[derive(Debug, thiserror::Error)]
enum NoDocumentId {
    #[error("record is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("document id field {0} is missing or not a string or number")]
    Missing(String),
}

pub struct OpenSearchSink {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    options: Arc<OpenSearchOptions>,
    /// Set once the index template is installed.
    template_installed: OnceCell<()>,
}

/// How long one HTTP request to the cluster may take.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl OpenSearchSink {
    /// Fails only when the TLS setup cannot be built (an unusable CA certificate).
    pub fn new(options: OpenSearchOptions) -> Result<Self, tls::TlsError> {
        let connector = tls::connector(&options.ca_certificates)?;
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(OpenSearchSink {
            client,
            options: Arc::new(options),
            template_installed: OnceCell::new(),
        })
    }

    /// Installs the index template, if there is one and it is not installed yet. Called at
    /// start (where a refusal is a configuration error) and before every delivery.
    pub async fn install_template(&self) -> Result<(), SinkError> {
        let Some(template) = &self.options.template else {
            return Ok(());
        };
        self.template_installed
            .get_or_try_init(|| async {
                let path = format!("_index_template/{}", template.name);
                let body = template.body.to_string().into_bytes();
                let (status, text) = self
                    .call(Method::PUT, &path, "application/json", body)
                    .await?;
                check_status(status, &text, &format!("PUT {path}"))?;
                tracing::info!(template = %template.name, "index template installed");
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// One request to the cluster; the answer's status and body, or why there is none.
    async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), SinkError> {
        let url = format!("{}/{path}", self.options.endpoint.trim_end_matches('/'));
        let what = format!("{method} {url}");
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", content_type);
        if let Some(auth) = &self.options.authorization {
            request = request.header("authorization", auth);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SinkError::permanent("Elasticsearch.BadRequest", e.to_string()))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| {
                SinkError::retryable(
                    "Elasticsearch.Timeout",
                    format!("{what} timed out after {} s", REQUEST_TIMEOUT.as_secs()),
                )
            })?
            .map_err(|e| {
                let cause = error_chain(&e);
                SinkError::retryable("Elasticsearch.ConnectionFailed", format!("{what}: {cause}"))
            })?;
        let status = response.status();
        let text = response
            .into_body()
            .collect()
            .await
            .map_err(|e| SinkError::retryable("Elasticsearch.BodyRead", format!("{what}: {e}")))?
            .to_bytes();
        Ok((status, text))
    }

    fn document_id(&self, batch: &Batch, index: usize) -> Result<Option<String>, NoDocumentId> {
        match &self.options.document_id {
            DocumentId::None => Ok(None),
            DocumentId::Auto => {
                let meta = &batch.records[index].meta;
                let mut hash = Md5::new();
                hash.update(meta.shard.as_bytes());
                hash.update([0x1f]);
                hash.update(meta.sequence_text().as_bytes());
                hash.update([0x1f]);
                hash.update(meta.sub_sequence.unwrap_or(0).to_be_bytes());
                Ok(Some(
                    hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
                ))
            }
            DocumentId::Field(path) => {
                let record: serde_json::Value = serde_json::from_slice(batch.record_data(index))
                    .map_err(NoDocumentId::NotJson)?;
                match path.extract(&record) {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                    Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
                    _ => Err(NoDocumentId::Missing(path.as_str().to_string())),
                }
            }
        }
    }

    /// Sends one bulk request for `items` (indices into the batch with their ids).
    async fn send_bulk(
        &self,
        index_name: &str,
        batch: &Batch,
        items: &[(usize, Option<String>)],
        delivery: &mut Delivery,
    ) -> Result<(), SinkError> {
        let mut body = Vec::new();
        for (i, id) in items {
            let mut meta = serde_json::json!({ "_index": index_name });
            if let Some(id) = id {
                meta["_id"] = serde_json::Value::String(id.clone());
            }
            let action = serde_json::json!({ self.options.action.as_str(): meta });
            body.extend_from_slice(action.to_string().as_bytes());
            body.push(b'\n');
            body.extend_from_slice(batch.record_data(*i));
            body.push(b'\n');
        }
        let (status, text) = self
            .call(Method::POST, "_bulk", "application/x-ndjson", body)
            .await?;
        let url = format!("{}/_bulk", self.options.endpoint.trim_end_matches('/'));
        check_status(status, &text, &format!("POST {url}"))?;
        let outcomes = classify(&text, self.options.action, items.len()).map_err(|e| {
            SinkError::retryable("Elasticsearch.BadResponse", format!("POST {url}: {e}"))
        })?;
        for ((index, id), outcome) in items.iter().zip(outcomes) {
            let (class, status, error_type, reason) = match outcome {
                ItemOutcome::Delivered => {
                    delivery.delivered += 1;
                    continue;
                }
                ItemOutcome::Retry {
                    status,
                    error_type,
                    reason,
                } => (ErrorClass::Retryable, status, error_type, reason),
                ItemOutcome::Failed {
                    status,
                    error_type,
                    reason,
                } => (ErrorClass::Permanent, status, error_type, reason),
            };
            delivery.failed.push(item_failure(
                *index,
                class,
                &format!("Elasticsearch.{error_type}"),
                format!("{status} {error_type}: {reason}"),
                index_name,
                id.as_deref(),
            ));
        }
        Ok(())
    }
}

/// An error for an answer that is not a success: 429 and 5xx retryable, other 4xx not.
fn check_status(status: StatusCode, text: &[u8], what: &str) -> Result<(), SinkError> {
    if status.is_success() {
        return Ok(());
    }
    let code = format!("Elasticsearch.Http{}", status.as_u16());
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(SinkError::retryable(
            code,
            format!("{what} answered {status}"),
        ));
    }
    let detail = String::from_utf8_lossy(&text[..text.len().min(500)]).to_string();
    Err(SinkError::permanent(
        code,
        format!("{what} answered {status}: {detail}"),
    ))
}

fn item_failure(
    index: usize,
    class: ErrorClass,
    code: &str,
    message: String,
    index_name: &str,
    id: Option<&str>,
) -> FailedItem {
    let mut fields = vec![("esIndexName", index_name.to_string())];
    if let Some(id) = id {
        fields.push(("esDocumentId", id.to_string()));
    }
    FailedItem {
        index,
        class,
        error_type: ErrorOutputType::OpenSearchFailed,
        code: code.to_string(),
        message,
        attempts: 1,
        destination_fields: fields,
    }
}

#[async_trait]
impl Sink for OpenSearchSink {
    fn name(&self) -> &'static str {
        "Elasticsearch"
    }

    fn error_output_type(&self) -> ErrorOutputType {
        ErrorOutputType::OpenSearchFailed
    }

    async fn deliver(&self, batch: Arc<Batch>) -> Result<Delivery, SinkError> {
        self.install_template().await?;
        let index_name = batch.key.prefix().to_string();
        let mut delivery = Delivery::default();
        // Records that do not fit the schema never reach the cluster.
        let mut misfits = vec![false; batch.len()];
        if let Some(schema) = &self.options.schema {
            for rejection in schema_rejections(schema, &batch) {
                misfits[rejection.index] = true;
                delivery.failed.push(FailedItem {
                    index: rejection.index,
                    class: ErrorClass::Permanent,
                    error_type: rejection.error_type,
                    code: rejection.code.to_string(),
                    message: rejection.message,
                    attempts: 1,
                    destination_fields: vec![("esIndexName", index_name.clone())],
                });
            }
        }
        let mut chunk: Vec<(usize, Option<String>)> = Vec::new();
        let mut chunk_bytes = 0;
        for i in (0..batch.len()).filter(|&i| !misfits[i]) {
            match self.document_id(&batch, i) {
                Ok(id) => {
                    let size = batch.records[i].range.len() + 64;
                    if !chunk.is_empty()
                        && (chunk.len() >= self.options.bulk_documents
                            || chunk_bytes + size > self.options.bulk_bytes)
                    {
                        self.send_bulk(
                            &index_name,
                            &batch,
                            &std::mem::take(&mut chunk),
                            &mut delivery,
                        )
                        .await?;
                        chunk_bytes = 0;
                    }
                    chunk_bytes += size;
                    chunk.push((i, id));
                }
                Err(reason) => delivery.failed.push(item_failure(
                    i,
                    ErrorClass::Permanent,
                    "Elasticsearch.NoDocumentId",
                    reason.to_string(),
                    &index_name,
                    None,
                )),
            }
        }
        if !chunk.is_empty() {
            self.send_bulk(&index_name, &batch, &chunk, &mut delivery)
                .await?;
        }
        Ok(delivery)
    }
}
