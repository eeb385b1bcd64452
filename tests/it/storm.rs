//! Scenario 1 of the fault suite, a sink error storm: for 60 s, 30 % of the S3 requests fail
//! while records stream in from Kinesis (kinesis-local; leases in dynalite) — 503 SlowDown,
//! 500 InternalError, connection resets, lost responses (moto stores the object, the answer
//! never arrives) and hangs (ended by the client's `request_timeout`), in turn, with 20 ms of
//! latency on every request. Then the storm ends, the stream drains and Spillway stops. With
//! `exactly_once = true` the ledger must read missing 0 and duplicated 0: a retried write
//! whose first answer was lost finds its key taken and keeps the first copy.

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::support::aws::*;
use crate::support::fault_proxy::{Fault, FaultProxy, Plan};
use crate::support::*;
use serde_json::Value;

const STORM: Duration = Duration::from_secs(60);

fn write_config(dir: &Path, stream: &str, lease_table: &str, bucket: &str) -> std::path::PathBuf {
    let path = dir.join("storm.toml");
    let text = format!(
        r#"
name = "storm"
[source]
type = "kinesis"
stream = "{stream}"
mode = "polling"
start_position = "TRIM_HORIZON"
lease_table = "{lease_table}"
checkpoint_interval = "500ms"
shard_discovery_interval = "1s"
[destination]
type = "s3"
bucket = "{bucket}"
prefix = "storm/"
exactly_once = true
check_bucket = false
request_timeout = "2s"
retry_duration = "600s"
[destination.buffering]
size = "1 MiB"
interval = "1s"
[destination.format]
type = "ndjson"
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path, proxy: &FaultProxy) -> Child {
    let mut cmd = spillway();
    cmd.args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    aws_env(&mut cmd, &proxy.url);
    cmd.env("AWS_ENDPOINT_URL_KINESIS", kinesis_url())
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynalite_url());
    cmd.spawn().unwrap()
}

/// Record `n`: `{"id":"r000042","n":42}` under one of 16 partition keys.
fn records(from: usize, to: usize) -> Vec<(String, Vec<u8>)> {
    (from..to)
        .map(|n| {
            let data = format!(r#"{{"id":"r{n:06}","n":{n}}}"#);
            (format!("k{}", n % 16), data.into_bytes())
        })
        .collect()
}

async fn delivered(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for key in list_keys(s3, bucket, "storm/").await {
        let body = get_object(s3, bucket, &key).await;
        ids.extend(String::from_utf8(body).unwrap().lines().map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn a_60_second_storm_on_30_percent_of_s3_requests_loses_and_duplicates_nothing() {
    let moto = moto_url();
    let (s3, kinesis) = (s3(&moto).await, kinesis(&kinesis_url()).await);
    let (stream, lease_table) = (unique_name("storm"), unique_name("leases"));
    let bucket = unique_name("spillway-storm60");
    create_bucket(&s3, &bucket).await;
    create_stream(&kinesis, &stream, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &stream, &lease_table, &bucket);

    let proxy = FaultProxy::start(&moto, Plan::pass());
    let child = start(&config, &proxy);
    let mut storm = Plan::failing(
        0.3,
        vec![
            Fault::s3_slow_down(),
            Fault::s3_internal_error(),
            Fault::LostResponse,
            Fault::Reset,
            Fault::Hang,
        ],
    );
    storm.latency = Duration::from_millis(20);
    proxy.set_plan(storm);

    // 100 records every 250 ms for the length of the storm.
    let started = Instant::now();
    let mut put = 0;
    while started.elapsed() < STORM {
        put_records(&kinesis, &stream, &records(put, put + 100)).await;
        put += 100;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    proxy.set_plan(Plan::pass());
    let stats = &proxy.stats;
    let (requests, injected) = (stats.eligible.load(Relaxed), stats.injected.load(Relaxed));
    let (lost, hangs) = (
        stats.lost_responses.load(Relaxed),
        stats.hangs.load(Relaxed),
    );
    let resets = stats.resets.load(Relaxed);

    let ids: Vec<String> = (0..put).map(|n| format!("r{n:06}")).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ledger = Ledger::count(&ids, &delivered(&s3, &bucket).await, &[]);
        if ledger.missing == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not drained in 120 s: {ledger:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let out = terminate(child);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("dead-lettered 0"), "{summary}");

    let ledger = Ledger::count(&ids, &delivered(&s3, &bucket).await, &[]);
    println!(
        "{} ({requests} S3 requests in 60 s, {injected} failed: {resets} resets, {lost} lost responses, {hangs} hangs, the rest 503/500)",
        ledger.line("s3 storm 30% for 60 s, exactly_once")
    );
    assert!(
        injected >= requests * 3 / 10 && resets >= 2 && lost >= 2 && hangs >= 2,
        "the storm happened: {injected} of {requests}, {resets} resets, {lost} lost, {hangs} hangs"
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}
