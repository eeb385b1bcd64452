//! The S3 object store. Its client comes from [`crate::aws`] (the standard AWS SDK chain
//! with optional region and endpoint overrides), so one config runs against AWS or a local
//! S3-compatible store unchanged. Objects above one part stream as multipart uploads while the
//! encoder is still writing ([`upload`]); small ones are a single PutObject.

mod upload;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
use aws_sdk_s3::Client;

use crate::aws::sink_error;
use crate::sink::SinkError;
use crate::store::{ObjectStore, ObjectWriter, PutOptions};

pub use self::upload::MIN_PART_SIZE;

/// Server-side encryption of written objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Encryption {
    Aes256,
    Kms { key_id: Option<String> },
}

/// How objects are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Options {
    pub bucket: String,
    /// Bytes per multipart part (at least 5 MiB); an object that fits in one part is a PutObject.
    pub part_size: usize,
    /// Parts uploading at once per object.
    pub upload_concurrency: usize,
    pub encryption: Option<Encryption>,
    pub storage_class: Option<String>,
    /// Object tags, `key=value`.
    pub tags: Vec<(String, String)>,
}

impl S3Options {
    /// Plain objects in `bucket`: the smallest parts, one upload at a time, no encryption
    /// header, storage class or tags. For dead letters and for reading objects back.
    pub fn plain(bucket: &str) -> S3Options {
        S3Options {
            bucket: bucket.to_string(),
            part_size: MIN_PART_SIZE,
            upload_concurrency: 1,
            encryption: None,
            storage_class: None,
            tags: Vec::new(),
        }
    }
}

pub struct S3Store {
    client: Client,
    options: S3Options,
}

/// Object settings shared by PutObject and CreateMultipartUpload, and the object's guard.
#[derive(Clone, Debug)]
struct ObjectSettings {
    content_type: &'static str,
    content_encoding: Option<&'static str>,
    encryption: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    storage_class: Option<StorageClass>,
    tagging: Option<String>,
    /// Create only if the key is free (`If-None-Match: *`).
    if_absent: bool,
    /// Asked before each part and before the object is published.
    guard: Option<crate::store::WriteGuard>,
}

impl S3Store {
    pub fn new(client: Client, options: S3Options) -> Self {
        S3Store { client, options }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Checks that the bucket exists and is reachable, with a clear error if not. Throttling
    /// and 5xx answers are retried with the usual backoff for up to `retry_for`; a missing
    /// bucket or denied access fails at once.
    pub async fn check_bucket(&self, retry_for: std::time::Duration) -> Result<(), SinkError> {
        let policy = crate::retry::RetryPolicy {
            retry_duration: retry_for,
            ..Default::default()
        };
        let started = tokio::time::Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.head_bucket().await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_retryable() => {
                    match policy.next_delay(attempts, started.elapsed(), fastrand::f64()) {
                        Some(delay) => {
                            tracing::warn!(error = %e, retry_in = ?delay, "cannot check the bucket yet; retrying");
                            tokio::time::sleep(delay).await;
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn head_bucket(&self) -> Result<(), SinkError> {
        let bucket = &self.options.bucket;
        self.client.head_bucket().bucket(bucket).send().await.map(|_| ()).map_err(|e| {
            let mut error = sink_error("S3", "HeadBucket", &format!("s3://{bucket}"), e);
            if error.message.contains("HTTP 404") {
                error.message = format!("bucket {bucket} does not exist (HeadBucket answered 404); create it or fix destination.bucket");
            }
            error
        })
    }

    fn settings(&self, options: &PutOptions) -> ObjectSettings {
        let (encryption, kms_key_id) = match &self.options.encryption {
            None => (None, None),
            Some(Encryption::Aes256) => (Some(ServerSideEncryption::Aes256), None),
            Some(Encryption::Kms { key_id }) => {
                (Some(ServerSideEncryption::AwsKms), key_id.clone())
            }
        };
        let tagging = (!self.options.tags.is_empty()).then(|| {
            let pairs: Vec<String> = self
                .options
                .tags
                .iter()
                .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
                .collect();
            pairs.join("&")
        });
        ObjectSettings {
            content_type: options.content_type,
            content_encoding: options.content_encoding,
            encryption,
            kms_key_id,
            storage_class: self
                .options
                .storage_class
                .as_deref()
                .map(StorageClass::from),
            tagging,
            if_absent: options.if_absent,
            guard: options.guard.clone(),
        }
    }

    fn target(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.options.bucket)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for the tagging header).
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[async_trait]
impl ObjectStore for S3Store {
    fn destination_name(&self) -> &'static str {
        "S3"
    }

    fn url(&self, key: &str) -> String {
        self.target(key)
    }

    fn writer(&self, key: &str, options: &PutOptions) -> Result<Box<dyn ObjectWriter>, SinkError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|e| {
            SinkError::permanent(
                "S3.Runtime",
                format!("S3 writers need a Tokio runtime: {e}"),
            )
        })?;
        Ok(Box::new(upload::S3Writer::new(
            self.client.clone(),
            handle,
            self.options.bucket.clone(),
            key.to_string(),
            self.settings(options),
            self.options.part_size,
            self.options.upload_concurrency,
        )))
    }

    async fn put(&self, key: &str, body: Vec<u8>, options: &PutOptions) -> Result<(), SinkError> {
        upload::put_object(
            &self.client,
            &self.options.bucket,
            key,
            &self.settings(options),
            ByteStream::from(body),
        )
        .await
        .map(|_| ())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, SinkError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.options.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| sink_error("S3", "ListObjectsV2", &self.target(prefix), e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, SinkError> {
        let object = self
            .client
            .get_object()
            .bucket(&self.options.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sink_error("S3", "GetObject", &self.target(key), e))?;
        let body = object.body.collect().await.map_err(|e| {
            SinkError::retryable("S3.BodyRead", format!("reading {}: {e}", self.target(key)))
        })?;
        Ok(body.into_bytes().to_vec())
    }

    async fn delete(&self, key: &str) -> Result<(), SinkError> {
        self.client
            .delete_object()
            .bucket(&self.options.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sink_error("S3", "DeleteObject", &self.target(key), e))?;
        Ok(())
    }

    async fn clean_up_after_crash(
        &self,
        prefix: &str,
        name_start: &str,
    ) -> Result<usize, SinkError> {
        let uploads = self
            .client
            .list_multipart_uploads()
            .bucket(&self.options.bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| sink_error("S3", "ListMultipartUploads", &self.target(prefix), e))?;
        let mut aborted = 0;
        for upload in uploads.uploads() {
            let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                continue;
            };
            if !key
                .rsplit('/')
                .next()
                .unwrap_or(key)
                .starts_with(name_start)
            {
                continue;
            }
            upload::abort(&self.client, &self.options.bucket, key, id).await?;
            aborted += 1;
        }
        Ok(aborted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_percent_encoded() {
        assert_eq!(url_encode("team=data lake/x"), "team%3Ddata%20lake%2Fx");
        assert_eq!(url_encode("a-b_c.d~"), "a-b_c.d~");
    }
}
