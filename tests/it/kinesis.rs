//! The Kinesis source against kinesis-local (a build of kinesis-mock: the Kinesis API with
//! enhanced fan-out) and dynalite (the lease table): 10,000 records, plain and KPL-aggregated,
//! on a 2-shard stream are delivered to the local lake exactly once, with enhanced fan-out and
//! with polling; a graceful restart resumes from the lease table with no gap and no duplicate;
//! a corrupt aggregate is dead-lettered with its bytes; and a shard split during consumption
//! loses nothing, the parent read to its end before its children; `/readyz` follows whether
//! Kinesis can be reached.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::aws::*;
use crate::support::*;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use spillway_formats::kpl;

mod fencing;
mod scale_out;

/// Records numbered `from..to`: every fifth group of 20 goes as one KPL aggregate. A record's
/// `key` is the Kinesis partition key it travels under (an aggregate's, for its records, as
/// the KPL aggregates only records bound for the same shard).
fn make_records(from: usize, to: usize) -> Vec<(String, Vec<u8>)> {
    let mut records = Vec::new();
    let mut n = from;
    while n < to {
        let group_end = (n + 20).min(to);
        let aggregated = (n / 20).is_multiple_of(5);
        let users: Vec<(String, Vec<u8>)> = (n..group_end)
            .map(|i| {
                let key = format!("user-{}", if aggregated { n } else { i } % 97);
                (
                    key.clone(),
                    format!(r#"{{"id":"r{i:06}","key":"{key}","n":{i}}}"#).into_bytes(),
                )
            })
            .collect();
        if aggregated {
            let pairs: Vec<(&str, &[u8])> = users
                .iter()
                .map(|(k, d)| (k.as_str(), d.as_slice()))
                .collect();
            records.push((users[0].0.clone(), kpl::aggregate(&pairs)));
        } else {
            records.extend(users);
        }
        n = group_end;
    }
    records
}

fn ids(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("r{i:06}")).collect()
}

struct Names {
    stream: String,
    lease_table: String,
}

impl Names {
    /// A new stream of `shards` shards named after `stem`, and a lease table name of its own.
    async fn created(client: &aws_sdk_kinesis::Client, stem: &str, shards: i32) -> Names {
        let names = Names {
            stream: unique_name(stem),
            lease_table: unique_name("leases"),
        };
        create_stream(client, &names.stream, shards).await;
        names
    }
}

fn start(mode: &str, names: &Names, lake: &Path) -> Child {
    start_with(mode, names, lake, &[])
}

fn start_with(mode: &str, names: &Names, lake: &Path, extra: &[&str]) -> Child {
    let config = Path::new("examples/kinesis-to-lake.toml");
    start_config(config, mode, names, lake, extra)
}

fn start_config(config: &Path, mode: &str, names: &Names, lake: &Path, extra: &[&str]) -> Child {
    worker_command("run", config, mode, names, lake, extra)
        .spawn()
        .unwrap()
}

/// `spillway COMMAND --config CONFIG EXTRA…` on `names`' stream and lease table, with
/// kinesis-local and dynalite as its endpoints (a test may point one at a proxy instead).
fn worker_command(
    command: &str,
    config: &Path,
    mode: &str,
    names: &Names,
    lake: &Path,
    extra: &[&str],
) -> std::process::Command {
    let mut cmd = spillway();
    cmd.args([command, "--config"])
        .arg(config)
        .args(extra)
        .env("SPILLWAY_STREAM", &names.stream)
        .env("SPILLWAY_LEASE_TABLE", &names.lease_table)
        .env("SPILLWAY_KINESIS_MODE", mode)
        .env("SPILLWAY_LAKE", lake)
        .env("SPILLWAY_FORMAT", "ndjson")
        .env("SPILLWAY_CHECKPOINT_INTERVAL", "500ms")
        .env("SPILLWAY_DISCOVERY_INTERVAL", "1s")
        .env("AWS_ENDPOINT_URL_KINESIS", kinesis_url())
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynalite_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    aws_env(&mut cmd, "http://127.0.0.1:9");
    cmd.env_remove("AWS_ENDPOINT_URL");
    cmd
}

/// Within every object, the records of each partition key are in the order they were put.
fn assert_in_order_per_key(lake: &Path) {
    for file in files_under(&lake.join("kinesis"), "") {
        let mut last: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            let (key, n) = (
                record["key"].as_str().unwrap().to_string(),
                record["n"].as_u64().unwrap(),
            );
            if let Some(previous) = last.insert(key.clone(), n) {
                assert!(
                    previous < n,
                    "{key}: {n} after {previous} in {}",
                    file.display()
                );
            }
        }
    }
}

/// Every record id in the lake's NDJSON objects.
fn delivered(lake: &Path) -> Vec<String> {
    files_under(&lake.join("kinesis"), "")
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|l| {
            serde_json::from_str::<Value>(&l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn wait_for(lake: &Path, count: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let have = delivered(lake).len();
        if have >= count {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("spillway exited early ({status}): {err}");
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {count} records delivered in 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(child: Child) -> String {
    String::from_utf8(terminate(child).stdout).unwrap()
}

/// A free loopback address (`127.0.0.1:PORT`) for a worker's metrics endpoint.
fn free_address() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// The value of metric `name` (its first series) at the worker serving metrics on `listen`.
fn metric(listen: &str, name: &str) -> f64 {
    let metrics = http_get(listen, "/metrics");
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

async fn lease_checkpoints(table: &str) -> Vec<(String, String)> {
    let client = dynamodb(&dynalite_url()).await;
    let mut leases: Vec<(String, String)> = scan_all(&client, table)
        .await
        .iter()
        .map(|item| {
            let text = |k: &str| match item.get(k) {
                Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => s.clone(),
                _ => String::new(),
            };
            (text("leaseKey"), text("checkpoint"))
        })
        .collect();
    leases.sort();
    leases
}

async fn delivers_exactly_once_and_resumes_without_gap(mode: &str) {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, &format!("stream-{mode}"), 2).await;
    put_records(&client, &names.stream, &make_records(0, 10_000)).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");

    let listen = free_address();
    let mut child = start_with(mode, &names, &lake, &["--metrics-listen", &listen]);
    wait_for(&lake, 10_000, &mut child);
    let metrics = http_get(&listen, "/metrics");
    for shard in client
        .list_shards()
        .stream_name(&names.stream)
        .send()
        .await
        .unwrap()
        .shards()
    {
        let line = format!(
            "spillway_kinesis_behind_latest_seconds{{stream=\"kinesis-to-lake\",shard=\"{}\"}}",
            shard.shard_id()
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    stop(child);
    let ledger = Ledger::count(&ids(0, 10_000), &delivered(&lake), &[]);
    println!("{}", ledger.line(&format!("kinesis {mode} first run")));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    assert_in_order_per_key(&lake);
    let leases = lease_checkpoints(&names.lease_table).await;
    assert_eq!(leases.len(), 2);
    assert!(
        leases
            .iter()
            .all(|(_, c)| c.chars().all(|d| d.is_ascii_digit())),
        "sequence-number checkpoints: {leases:?}"
    );

    // A graceful restart resumes after the checkpoints: the next records, none twice.
    put_records(&client, &names.stream, &make_records(10_000, 11_000)).await;
    let mut child = start(mode, &names, &lake);
    wait_for(&lake, 11_000, &mut child);
    stop(child);
    let ledger = Ledger::count(&ids(0, 11_000), &delivered(&lake), &[]);
    println!("{}", ledger.line(&format!("kinesis {mode} after restart")));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn enhanced_fan_out_delivers_exactly_once_and_resumes_without_gap() {
    delivers_exactly_once_and_resumes_without_gap("efo").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_delivers_exactly_once_and_resumes_without_gap() {
    delivers_exactly_once_and_resumes_without_gap("polling").await;
}

/// `exactly_once` from Kinesis: records trickle in (segments close by age, so only the segment
/// log in the lease table knows their ends), the process is killed with SIGKILL three times
/// and restarted from checkpoints that lag the objects; no record is missing or doubled.
#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_survives_sigkill_with_no_duplicate() {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "stream-once", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let example = std::fs::read_to_string(repo_root().join("examples/kinesis-to-lake.toml"));
    let config = dir.path().join("once.toml");
    let text = example.unwrap().replace(
        "[destination.buffering]",
        "exactly_once = true\n\n[destination.buffering]",
    );
    std::fs::write(&config, text).unwrap();

    let mut put = 0;
    for round in 0..3 {
        let mut child = start_config(&config, "polling", &names, &lake, &[]);
        // Trickle 6 × 200 records while it runs, then kill it without warning.
        for _ in 0..6 {
            put_records(&client, &names.stream, &make_records(put, put + 200)).await;
            put += 200;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        wait_for(&lake, 1, &mut child);
        child.kill().unwrap();
        child.wait().unwrap();
        println!(
            "round {round}: killed with {} records in the lake",
            delivered(&lake).len()
        );
    }
    let child = start_config(&config, "polling", &names, &lake, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while Ledger::count(&ids(0, put), &delivered(&lake), &[]).missing > 0 {
        assert!(Instant::now() < deadline, "not all delivered in 120 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    stop(child);
    let ledger = Ledger::count(&ids(0, put), &delivered(&lake), &[]);
    println!(
        "{}",
        ledger.line("kinesis exactly_once: sigkill x3 then restart")
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    assert_in_order_per_key(&lake);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_aggregate_is_dead_lettered_with_its_bytes() {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "stream-corrupt", 1).await;
    let mut corrupt = kpl::aggregate(&[("k", b"{\"id\":\"x1\"}"), ("k", b"{\"id\":\"x2\"}")]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    let mut records = make_records(0, 100);
    records.push(("k".into(), corrupt.clone()));
    put_records(&client, &names.stream, &records).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut child = start("polling", &names, &lake);
    wait_for(&lake, 100, &mut child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while dead_letters(&lake).is_empty() {
        assert!(Instant::now() < deadline, "no dead letter");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(child);
    let letters = dead_letters(&lake);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].0, "processing-failed");
    assert_eq!(letters[0].1.error_code, "Kpl.CorruptAggregate");
    assert_eq!(letters[0].1.raw_bytes().unwrap(), corrupt);
    assert!(letters[0]
        .1
        .sequence_number
        .chars()
        .all(|c| c.is_ascii_digit()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_split_while_polling_loses_nothing_and_drains_the_parent_first() {
    split_during_consumption("polling").await;
}

/// kinesis-local never ends a closed parent's subscription; discovery sees the shard closed
/// and the rest is drained by polling — the path that also covers a missed ChildShards event.
#[tokio::test(flavor = "multi_thread")]
async fn a_shard_split_with_enhanced_fan_out_loses_nothing_and_drains_the_parent_first() {
    split_during_consumption("efo").await;
}

async fn split_during_consumption(mode: &str) {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, &format!("stream-split-{mode}"), 1).await;
    put_records(&client, &names.stream, &make_records(0, 3_000)).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut child = start(mode, &names, &lake);
    wait_for(&lake, 1, &mut child);

    let shards = client
        .list_shards()
        .stream_name(&names.stream)
        .send()
        .await
        .unwrap();
    let parent = shards.shards()[0].shard_id().to_string();
    client
        .split_shard()
        .stream_name(&names.stream)
        .shard_to_split(&parent)
        .new_starting_hash_key("170141183460469231731687303715884105728")
        .send()
        .await
        .unwrap();
    wait_until_active(&client, &names.stream).await;
    put_records(&client, &names.stream, &make_records(3_000, 6_000)).await;
    wait_for(&lake, 6_000, &mut child);
    stop(child);

    let ledger = Ledger::count(&ids(0, 6_000), &delivered(&lake), &[]);
    println!("{}", ledger.line(&format!("kinesis {mode} split shard")));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    let leases = lease_checkpoints(&names.lease_table).await;
    assert_eq!(leases.len(), 3, "{leases:?}");
    let parent_lease = leases.iter().find(|(id, _)| id == &parent).unwrap();
    assert_eq!(
        parent_lease.1, "SHARD_END",
        "the parent was read to its end and checkpointed"
    );
}

/// Issue 7's scenario 4: malformed, oversize, wrong-type and KPL-corrupt records mixed into a
/// stream of good ones. Every good record lands in the Parquet lake exactly once and every bad
/// one is in the dead letter with the error type and code that names what was wrong.
#[tokio::test(flavor = "multi_thread")]
async fn bad_records_of_every_kind_mixed_into_a_stream_are_dead_lettered_and_nothing_is_lost() {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "stream-mixed", 2).await;
    let mut corrupt = kpl::aggregate(&[("k", br#"{"id":"x1"}"#), ("k", br#"{"id":"x2"}"#)]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    // Under Kinesis's 1 MiB record limit, over Firehose's 1000 KiB (set below).
    let oversize = format!(r#"{{"id":"big","pad":"{}"}}"#, "x".repeat(1_030_000)).into_bytes();
    let bad: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "malformed",
            br#"{"id": "m1", "n": "#.to_vec(),
            "processing-failed",
            "Decode.InvalidJson",
        ),
        (
            "oversize",
            oversize,
            "processing-failed",
            "Decode.RecordTooLarge",
        ),
        (
            "wrong-type",
            br#"{"id":"w1","key":"k","n":"not a number"}"#.to_vec(),
            "format-conversion-failed",
            "Format.SchemaMismatch",
        ),
        (
            "kpl-corrupt",
            corrupt,
            "processing-failed",
            "Kpl.CorruptAggregate",
        ),
    ];
    let mut records = make_records(0, 1000);
    for (i, (_, data, _, _)) in bad.iter().enumerate() {
        records.insert(200 * (i + 1), (format!("bad-{i}"), data.clone()));
    }
    put_records(&client, &names.stream, &records).await;

    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let config = dir.path().join("mixed.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "mixed"
[source]
type = "kinesis"
stream = "{stream}"
mode = "polling"
start_position = "TRIM_HORIZON"
lease_table = "{table}"
checkpoint_interval = "500ms"
[processing]
max_record_size = "1000 KiB"
[destination]
type = "local"
path = {lake:?}
prefix = "kinesis/"
[destination.buffering]
size = "1 MiB"
interval = "1s"
[destination.format]
type = "parquet"
[destination.format.schema]
columns = [{{ name = "id", type = "string" }}, {{ name = "key", type = "string" }}, {{ name = "n", type = "bigint" }}]
"#,
            stream = names.stream,
            table = names.lease_table,
        ),
    )
    .unwrap();
    let mut cmd = spillway();
    cmd.args(["run", "--config"])
        .arg(&config)
        .env("AWS_ENDPOINT_URL_KINESIS", kinesis_url())
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynalite_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    aws_env(&mut cmd, "http://127.0.0.1:9");
    cmd.env_remove("AWS_ENDPOINT_URL");
    let child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let parquet_ids = || parquet_strings(&lake.join("kinesis"), "id");
    while parquet_ids().len() < 1000 || dead_letters(&lake).len() < bad.len() {
        if Instant::now() > deadline {
            let expected = ids(0, 1000);
            let extra: Vec<String> = parquet_ids()
                .into_iter()
                .filter(|id| !expected.contains(id))
                .collect();
            let codes: Vec<String> = dead_letters(&lake)
                .into_iter()
                .map(|(_, r)| r.error_code)
                .collect();
            panic!("after 60 s: unexpected ids delivered {extra:?}, dead letters {codes:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(child);

    let letters = dead_letters(&lake);
    let ledger = Ledger::count(&ids(0, 1000), &parquet_ids(), &[]);
    println!(
        "{} (+{} bad records dead-lettered)",
        ledger.line("kinesis with every kind of bad record"),
        letters.len()
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    assert_eq!(
        letters.len(),
        bad.len(),
        "only the bad records are dead-lettered"
    );
    for (what, data, error_type, code) in &bad {
        let letter = letters
            .iter()
            .find(|(_, r)| r.raw_bytes().unwrap() == *data)
            .unwrap_or_else(|| panic!("{what} is not in the dead letter"));
        assert_eq!(
            (letter.0.as_str(), letter.1.error_code.as_str()),
            (*error_type, *code),
            "{what}"
        );
    }
}

/// `/readyz` follows the source: 503 naming it while Kinesis cannot be reached (every request
/// through a fault proxy reset, so shard discovery fails), 200 again once it can.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_reports_a_source_that_cannot_reach_kinesis() {
    use crate::support::fault_proxy::{Fault, FaultProxy, Plan};
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "ready", 1).await;
    let proxy = FaultProxy::start(&kinesis_url(), Plan::pass());
    let dir = tempfile::tempdir().unwrap();
    let listen = free_address();
    let child = worker_command(
        "serve",
        Path::new("examples/kinesis-to-lake.toml"),
        "polling",
        &names,
        &dir.path().join("lake"),
        &["--metrics-listen", &listen],
    )
    .env("AWS_ENDPOINT_URL_KINESIS", &proxy.url)
    .spawn()
    .unwrap();
    let readyz = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = std::net::TcpStream::connect(&listen)
                .ok()
                .map(|_| http_get(&listen, "/readyz"));
            if answer.as_deref().is_some_and(|a| a.contains(want)) {
                return answer.unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "/readyz never answered {want:?}; last: {answer:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    readyz("HTTP/1.1 200");
    proxy.set_plan(Plan::failing(1.0, vec![Fault::Reset]));
    let down = readyz("HTTP/1.1 503");
    assert!(down.contains("the source is not connected"), "{down}");
    proxy.set_plan(Plan::pass());
    readyz("HTTP/1.1 200");
    stop(child);
}
