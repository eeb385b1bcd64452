//! Scale-out timings, measured (never asserted): on an 8-shard stream with the default
//! `failover_time` (10 s, renewals every 3.3 s), how long until a joining worker has its share
//! (the two hold 4 leases each; counted from the join), and how long until a worker killed
//! with SIGKILL has its leases taken over by the other (all 8 held by it; counted from the
//! kill). Median and max over `SPILLWAY_BENCH_RUNS` runs (default 5), each on a new stream
//! and lease table. Needs kinesis-local and dynalite, so run it inside the testbed:
//!
//!     scripts/testbed cargo bench --bench lease_takeover
//!
//! Under `cargo test` (no `--bench` argument) it does nothing.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

const SHARDS: i32 = 8;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run inside scripts/testbed"))
}

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .load()
        .await
}

/// Leases held per owner.
async fn holdings(db: &aws_sdk_dynamodb::Client, table: &str) -> BTreeMap<String, usize> {
    let mut held = BTreeMap::new();
    let Ok(scan) = db
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
    else {
        return held;
    };
    for item in scan.items() {
        if let Some(AttributeValue::S(owner)) = item.get("leaseOwner") {
            if !owner.is_empty() {
                *held.entry(owner.clone()).or_default() += 1;
            }
        }
    }
    held
}

async fn wait_until(
    db: &aws_sdk_dynamodb::Client,
    table: &str,
    done: impl Fn(&BTreeMap<String, usize>) -> bool,
) -> Duration {
    let started = Instant::now();
    while !done(&holdings(db, table).await) {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "no settling in 180 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

fn worker(stream: &str, table: &str, lake: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_spillway"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--config", "examples/kinesis-to-lake.toml"])
        .env("SPILLWAY_STREAM", stream)
        .env("SPILLWAY_LEASE_TABLE", table)
        .env("SPILLWAY_KINESIS_MODE", "polling")
        .env("SPILLWAY_LAKE", lake)
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
        .unwrap()
}

/// One run: (balance after a join, takeover after a SIGKILL).
async fn run(n: usize) -> (Duration, Duration) {
    let config = sdk().await;
    let kinesis = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&config)
            .endpoint_url(env("SPILLWAY_KINESIS_URL"))
            .build(),
    );
    let db = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(env("SPILLWAY_DYNALITE_URL"))
            .build(),
    );
    let stream = format!("takeover-{}-{n}", std::process::id());
    let table = format!("takeover-leases-{}-{n}", std::process::id());
    kinesis
        .create_stream()
        .stream_name(&stream)
        .shard_count(SHARDS)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut first = worker(&stream, &table, &dir.path().join("lake-1"));
    wait_until(&db, &table, |h| {
        h.values().sum::<usize>() == SHARDS as usize
    })
    .await;
    let mut second = worker(&stream, &table, &dir.path().join("lake-2"));
    let balance = wait_until(&db, &table, |h| {
        h.len() == 2 && h.values().all(|n| *n == SHARDS as usize / 2)
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    let takeover = wait_until(&db, &table, |h| {
        h.len() == 1 && h.values().sum::<usize>() == SHARDS as usize
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status();
    let _ = first.wait();
    (balance, takeover)
}

fn summary(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let secs = |d: Duration| d.as_secs_f64();
    println!(
        "{name:<34} median {:5.1} s   max {:5.1} s   ({})",
        secs(times[times.len() / 2]),
        secs(*times.last().unwrap()),
        times
            .iter()
            .map(|t| format!("{:.1}", secs(*t)))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runs: usize = std::env::var("SPILLWAY_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut balances, mut takeovers) = (Vec::new(), Vec::new());
    for n in 0..runs {
        let (balance, takeover) = runtime.block_on(run(n));
        balances.push(balance);
        takeovers.push(takeover);
    }
    println!("{SHARDS} shards, failover_time 10 s (the default), polling, {runs} runs:");
    summary("balance after a second worker joins", balances);
    summary("takeover after SIGKILL of one of two", takeovers);
}
