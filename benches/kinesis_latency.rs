//! End-to-end latency of the Kinesis source, measured (never asserted): a record is put with
//! PutRecord, and the time until the object holding it is visible in the local lake is
//! recorded, with a 1 s buffering interval, for enhanced fan-out and for polling. Prints p50
//! and p99. Needs kinesis-local and dynalite, so run it inside the testbed:
//!
//!     scripts/testbed cargo bench --bench kinesis_latency
//!
//! Under `cargo test` (no `--bench` argument) it does nothing.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::primitives::Blob;

const RECORDS: usize = 200;
const PUT_EVERY: Duration = Duration::from_millis(50);

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run inside scripts/testbed"))
}

async fn client() -> aws_sdk_kinesis::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(env("SPILLWAY_KINESIS_URL"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .load()
        .await;
    aws_sdk_kinesis::Client::new(&config)
}

/// A delivered NDJSON object (no extension, as Firehose names plain NDJSON): not a dead
/// letter, a checkpoint or a temp file.
fn is_object(path: &Path) -> bool {
    let text = path.to_string_lossy();
    path.extension().is_none() && !text.contains("/errors/") && !text.contains("/_checkpoints/")
}

/// Latencies in ms of every record seen in new objects under `lake` since `seen`.
fn scan(lake: &Path, seen: &mut HashSet<std::path::PathBuf>, latencies: &mut Vec<u128>) {
    let mut stack = vec![lake.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_object(&path) && seen.insert(path.clone()) {
                let visible = now_ms();
                for line in std::fs::read_to_string(&path).unwrap_or_default().lines() {
                    let record: serde_json::Value = serde_json::from_str(line).unwrap();
                    if let Some(put) = record["put_ms"].as_u64() {
                        latencies.push(visible.saturating_sub(put as u128));
                    }
                }
            }
        }
    }
}

async fn measure(mode: &str) {
    let kinesis = client().await;
    let stream = format!("latency-{mode}-{}", std::process::id());
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(1)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillway"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--config", "examples/kinesis-to-lake.toml"])
        .env("SPILLWAY_STREAM", &stream)
        .env(
            "SPILLWAY_LEASE_TABLE",
            format!("latency-leases-{mode}-{}", std::process::id()),
        )
        .env("SPILLWAY_KINESIS_MODE", mode)
        .env("SPILLWAY_LAKE", &lake)
        .env("SPILLWAY_FORMAT", "ndjson")
        .env("AWS_ENDPOINT_URL_KINESIS", env("SPILLWAY_KINESIS_URL"))
        .env("AWS_ENDPOINT_URL_DYNAMODB", env("SPILLWAY_DYNALITE_URL"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Warm up: wait until a first record comes through (consumer registered, shard leased).
    let put = |i: usize| {
        let body = format!(r#"{{"id":{i},"put_ms":{}}}"#, now_ms());
        kinesis
            .put_record()
            .stream_name(&stream)
            .partition_key(format!("k{i}"))
            .data(Blob::new(body))
            .send()
    };
    let mut seen = HashSet::new();
    let mut warmup = Vec::new();
    put(usize::MAX).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while warmup.is_empty() && Instant::now() < deadline {
        scan(&lake, &mut seen, &mut warmup);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut next = 0;
    while latencies.len() < RECORDS && started.elapsed() < Duration::from_secs(120) {
        if next < RECORDS && started.elapsed() >= PUT_EVERY * next as u32 {
            put(next).await.unwrap();
            next += 1;
        }
        scan(&lake, &mut seen, &mut latencies);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "kinesis {mode:<8} PutRecord → object visible (buffering interval 1 s): {} records, p50 {} ms, p99 {} ms, max {} ms",
        latencies.len(),
        pick(0.5),
        pick(0.99),
        latencies.last().unwrap()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        measure("efo").await;
        measure("polling").await;
    });
}
