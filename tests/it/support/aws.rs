//! The AWS side of the test tooling: the moto server started by `scripts/test`
//! (`SPILLWAY_MOTO_URL`), SDK clients pointed at it (or at a fault proxy in front of it), the
//! environment a `spillway` process needs to reach it, and unique bucket/database names.

use std::process::Command;

use aws_sdk_s3::config::Credentials;

/// moto's URL, from `scripts/test`.
pub fn moto_url() -> String {
    std::env::var("SPILLWAY_MOTO_URL").unwrap_or_else(|_| {
        panic!("SPILLWAY_MOTO_URL is not set: run the suite with scripts/test, which starts moto")
    })
}

/// A name unique to this test run, usable as a bucket or Glue database name.
pub fn unique_name(stem: &str) -> String {
    format!("{stem}-{:08x}", fastrand::u32(..)).replace('_', "-")
}

/// Points a `spillway` process at `endpoint` with moto's test credentials.
pub fn aws_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

pub async fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = sdk_config(endpoint).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    )
}

/// dynalite's URL, from `scripts/test`.
pub fn dynalite_url() -> String {
    std::env::var("SPILLWAY_DYNALITE_URL")
        .unwrap_or_else(|_| panic!("SPILLWAY_DYNALITE_URL is not set: run the suite with scripts/test, which starts dynalite"))
}

pub async fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await)
}

/// Every item of a table.
pub async fn scan_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = Vec::new();
    let mut pages = client.scan().table_name(table).into_paginator().send();
    while let Some(page) = pages.next().await {
        items.extend(page.unwrap().items().iter().cloned());
    }
    items
}

/// kinesis-local's URL, from `scripts/test`.
pub fn kinesis_url() -> String {
    std::env::var("SPILLWAY_KINESIS_URL")
        .unwrap_or_else(|_| panic!("SPILLWAY_KINESIS_URL is not set: run the suite with scripts/test, which starts kinesis-local"))
}

pub async fn kinesis(endpoint: &str) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&sdk_config(endpoint).await)
}

/// Creates a stream with `shards` shards and waits until it is ACTIVE.
pub async fn create_stream(client: &aws_sdk_kinesis::Client, stream: &str, shards: i32) {
    client
        .create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await
        .unwrap();
    wait_until_active(client, stream).await;
}

/// Waits until the stream is ACTIVE (after creation or a reshard).
pub async fn wait_until_active(client: &aws_sdk_kinesis::Client, stream: &str) {
    for _ in 0..300 {
        let summary = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .unwrap();
        if summary
            .stream_description_summary()
            .unwrap()
            .stream_status()
            == &aws_sdk_kinesis::types::StreamStatus::Active
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("stream {stream} did not become ACTIVE");
}

/// Puts records `(partition key, data)`, 500 per PutRecords call, retrying any that fail.
pub async fn put_records(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    records: &[(String, Vec<u8>)],
) {
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;
    for chunk in records.chunks(500) {
        let mut pending: Vec<&(String, Vec<u8>)> = chunk.iter().collect();
        while !pending.is_empty() {
            let entries: Vec<PutRecordsRequestEntry> = pending
                .iter()
                .map(|(pk, data)| {
                    PutRecordsRequestEntry::builder()
                        .partition_key(pk)
                        .data(Blob::new(data.clone()))
                        .build()
                        .unwrap()
                })
                .collect();
            let response = client
                .put_records()
                .stream_name(stream)
                .set_records(Some(entries))
                .send()
                .await
                .unwrap();
            pending = pending
                .into_iter()
                .zip(response.records())
                .filter(|(_, result)| result.error_code().is_some())
                .map(|(record, _)| record)
                .collect();
        }
    }
}

pub async fn glue(endpoint: &str) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(&sdk_config(endpoint).await)
}

pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
}

/// Every key in the bucket under `prefix`.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        keys.extend(
            page.unwrap()
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    keys.sort();
    keys
}

pub async fn get_object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

/// Downloads every object under `prefix` into `dir`, keeping the key as the relative path.
pub async fn download(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    dir: &std::path::Path,
) -> Vec<String> {
    let keys = list_keys(s3, bucket, prefix).await;
    for key in &keys {
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, get_object(s3, bucket, key).await).unwrap();
    }
    keys
}

/// Multipart uploads still open in the bucket.
pub async fn open_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    s3.list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .uploads()
        .len()
}
