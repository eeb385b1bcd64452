//! Fencing, where it bites: a worker (A) is cut off — its S3 writes held open by the fault
//! proxy, then its lease table calls hung — for longer than the failover time, and a second
//! worker (B) takes its leases and delivers its shards again. Then A's held requests go
//! through. What A may still do: the requests that were already on the wire complete (here:
//! the parts of a multipart upload — the SDK itself tries a part that stalled again, within
//! the same call), and its abandoned uploads are aborted. What it must not do, and the proxy's
//! request log shows it does not: complete a multipart upload, send a PutObject, or start
//! another part. A's metrics count the records it set aside as fenced;
//! the ledger has nothing missing, and nothing twice — with `exactly_once` or without it,
//! since the only writes on the wire were parts of an upload that is never completed.

use std::time::{Duration, Instant};

use super::scale_out::owners;
use super::*;
use crate::support::fault_proxy::{Fault, FaultProxy, Plan};

const FAILOVER: Duration = Duration::from_secs(3);

/// Kinesis (polling) into S3 as NDJSON, objects of 6 MiB (two 5 MiB parts) or of what
/// `interval` gathered, in a config file named `name`.
fn config(
    dir: &Path,
    name: &str,
    bucket: &str,
    exactly_once: bool,
    interval: &str,
) -> std::path::PathBuf {
    let once = if exactly_once {
        "exactly_once = true\n"
    } else {
        ""
    };
    let text = format!(
        r#"name = "fencing"

[source]
type = "kinesis"
stream = "${{SPILLWAY_STREAM}}"
mode = "polling"
start_position = "TRIM_HORIZON"
lease_table = "${{SPILLWAY_LEASE_TABLE}}"
checkpoint_interval = "500ms"
failover_time = "{}s"
shard_discovery_interval = "1s"

[destination]
type = "s3"
bucket = "{bucket}"
prefix = "kinesis/"
part_size = "5 MiB"
request_timeout = "300s"
{once}
[destination.buffering]
size = "6 MiB"
interval = "{interval}"

[destination.format]
type = "ndjson"
"#,
        FAILOVER.as_secs()
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Records `from..to` of about 2 KB each: 7,000 of them fill a 6 MiB object per shard of two
/// (an `exactly_once` segment is one shard's).
fn big_records(from: usize, to: usize) -> Vec<(String, Vec<u8>)> {
    let pad = "x".repeat(2_000);
    (from..to)
        .map(|i| {
            let key = format!("user-{}", i % 97);
            let data = format!(r#"{{"id":"r{i:06}","key":"{key}","n":{i},"pad":"{pad}"}}"#);
            (key, data.into_bytes())
        })
        .collect()
}

/// Every record id in the bucket's objects.
async fn delivered_ids(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for key in list_keys(s3, bucket, "kinesis/").await {
        let body = get_object(s3, bucket, &key).await;
        for line in String::from_utf8(body).unwrap().lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            ids.push(record["id"].as_str().unwrap().to_string());
        }
    }
    ids
}

/// A worker process reaching S3 and DynamoDB at the given endpoints, serving metrics, its
/// output in `log` (a pipe nobody reads would stop it once full).
fn worker(
    config: &Path,
    names: &Names,
    (s3_url, dynamodb_url): (&str, &str),
    listen: &str,
    log: &Path,
) -> Child {
    let out = std::fs::File::create(log).unwrap();
    worker_command(
        "run",
        config,
        "polling",
        names,
        Path::new("unused"),
        &["--metrics-listen", listen],
    )
    .env("AWS_ENDPOINT_URL_S3", s3_url)
    .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url)
    .stdout(out.try_clone().unwrap())
    .stderr(out)
    .spawn()
    .unwrap()
}

/// The last lines of a worker's log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Whether a request (`METHOD path?query`, as the proxy logs it) writes object data or
/// publishes an object: PutObject, UploadPart, CreateMultipartUpload, CompleteMultipartUpload.
/// (An abort is a DELETE, a listing a GET.)
fn is_write(request: &str) -> bool {
    request.starts_with("PUT ") || request.starts_with("POST ")
}

/// The part a request uploads (`uploadId`, `partNumber`), when it is an UploadPart.
fn part_of(request: &str) -> Option<(String, String)> {
    let query = request.split_once('?')?.1;
    let value = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    };
    Some((value("uploadId")?, value("partNumber")?))
}

/// Waits for `done`; past `limit`, fails with the tail of each worker's log in `logs`.
async fn wait_until(
    what: &str,
    limit: Duration,
    logs: &[&Path],
    mut done: impl AsyncFnMut() -> bool,
) {
    let started = Instant::now();
    while !done().await {
        if started.elapsed() > limit {
            let tails: Vec<String> = logs
                .iter()
                .map(|log| format!("{}:\n{}", log.display(), tail(log)))
                .collect();
            panic!("{what}: not within {limit:?}\n{}", tails.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_worker_completes_no_upload_and_starts_no_write_after_its_lease_is_taken() {
    fenced_worker(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_exactly_once_a_cut_off_worker_doubles_nothing() {
    fenced_worker(true).await;
}

async fn fenced_worker(exactly_once: bool) {
    let kinesis_client = kinesis(&kinesis_url()).await;
    let names = Names::created(&kinesis_client, "fencing", 2).await;
    let s3_client = s3(&moto_url()).await;
    let bucket = unique_name("fencing");
    create_bucket(&s3_client, &bucket).await;
    let dir = tempfile::tempdir().unwrap();
    // A closes objects at 6 MiB (or after a minute): what it writes when cut off are parts.
    let a_config = config(dir.path(), "a.toml", &bucket, exactly_once, "60s");
    let b_config = config(dir.path(), "b.toml", &bucket, exactly_once, "5s");
    let s3_proxy = FaultProxy::start(&moto_url(), Plan::pass());
    let dynamodb_proxy = FaultProxy::start(&dynalite_url(), Plan::pass());

    // A alone: takes both leases and delivers the first records.
    let (a_listen, b_listen) = (free_address(), free_address());
    let (a_log, b_log) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut a = worker(
        &a_config,
        &names,
        (&s3_proxy.url, &dynamodb_proxy.url),
        &a_listen,
        &a_log,
    );
    let dynamodb_client = dynamodb(&dynalite_url()).await;
    wait_until(
        "A creates the lease table",
        Duration::from_secs(60),
        &[&a_log],
        async || {
            let table = dynamodb_client
                .describe_table()
                .table_name(&names.lease_table);
            table.send().await.is_ok()
        },
    )
    .await;
    wait_until(
        "A holds both leases",
        Duration::from_secs(60),
        &[&a_log],
        async || {
            let owners = owners(&names.lease_table).await;
            owners.len() == 2
                && owners
                    .values()
                    .all(|o| o.ends_with(&format!(":{}", a.id())))
        },
    )
    .await;

    // Cut A off: its S3 writes are held (on the wire, unanswered) …
    let log_len = || s3_proxy.stats.requests.lock().unwrap().len();
    let mut hold = Plan::failing(1.0, vec![Fault::Hold]);
    hold.only = Some(|method, _| *method == hyper::Method::PUT);
    let hold_from = log_len();
    s3_proxy.set_plan(hold);
    let putting = {
        let (client, stream) = (kinesis_client.clone(), names.stream.clone());
        tokio::spawn(async move { put_records(&client, &stream, &big_records(0, 7_000)).await })
    };
    wait_until(
        "A's first write is held",
        Duration::from_secs(150),
        &[&a_log],
        async || {
            s3_proxy
                .stats
                .holds
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 1
        },
    )
    .await;
    // … and then its lease table calls hang: it can neither renew nor checkpoint. Its fence
    // closes at most 2/3 of the failover time after its last renewal, before this.
    dynamodb_proxy.set_plan(Plan::failing(1.0, vec![Fault::Hang]));
    let cut_off = Instant::now();
    tokio::time::sleep(FAILOVER).await;
    let fence_closed = log_len();

    // B takes both leases once they expire and delivers everything A did not checkpoint.
    let b = worker(
        &b_config,
        &names,
        (&moto_url(), &dynalite_url()),
        &b_listen,
        &b_log,
    );
    let b_owner = format!(":{}", b.id());
    wait_until(
        "B holds both leases",
        Duration::from_secs(60),
        &[&a_log, &b_log],
        async || {
            let owners = owners(&names.lease_table).await;
            owners.len() == 2 && owners.values().all(|o| o.ends_with(&b_owner))
        },
    )
    .await;
    println!(
        "B took A's leases {:?} after A was cut off",
        cut_off.elapsed()
    );
    putting.await.unwrap();
    let input = ids(0, 7_000);
    wait_until(
        "B delivers every record",
        Duration::from_secs(120),
        &[&b_log, &a_log],
        async || Ledger::count(&input, &delivered_ids(&s3_client, &bucket).await, &[]).missing == 0,
    )
    .await;

    // The partition ends for S3: A's held writes reach moto.
    s3_proxy.set_plan(Plan::pass());
    s3_proxy.release_held();
    wait_until(
        "A's held writes go through",
        Duration::from_secs(30),
        &[&a_log],
        async || {
            let stats = &s3_proxy.stats;
            stats.released.load(std::sync::atomic::Ordering::Relaxed)
                == stats.holds.load(std::sync::atomic::Ordering::Relaxed)
        },
    )
    .await;
    // Give A time to act on everything it still buffers (its interval is 10 s).
    tokio::time::sleep(Duration::from_secs(12)).await;
    let requests = s3_proxy.stats.requests.lock().unwrap().clone();
    let on_the_wire: Vec<&String> = requests[hold_from..fence_closed]
        .iter()
        .filter(|r| is_write(r))
        .collect();
    let since_fence: Vec<&String> = requests[fence_closed..].iter().collect();
    println!("A's writes on the wire when cut off: {on_the_wire:?}");
    println!("A's S3 requests once its fence closed: {since_fence:?}");
    // The SDK tries a stalled request again within the same call (the same request line);
    // any other write — another part, a PutObject, a new or completed upload — would be a
    // write under a lost lease.
    let new_writes: Vec<&&String> = since_fence
        .iter()
        .filter(|r| is_write(r) && !on_the_wire.contains(r))
        .collect();
    assert!(
        new_writes.is_empty(),
        "A started a write or completed an upload under a lost lease: {new_writes:?}"
    );
    if on_the_wire.iter().any(|r| part_of(r).is_some()) {
        assert!(
            since_fence
                .iter()
                .any(|r| r.contains("AbortMultipartUpload")),
            "A should abort the upload it was cut off in"
        );
    }
    let fenced = metric(&a_listen, "spillway_records_fenced_total");
    let lost = metric(&a_listen, "spillway_leases_lost_total");
    println!("A: records fenced {fenced}, leases lost {lost}");
    assert!(fenced > 0.0, "A set no record aside as fenced");
    assert_eq!(lost, 2.0, "A should have given up both leases");
    assert_eq!(
        open_uploads(&s3_client, &bucket).await,
        0,
        "A's upload is left open"
    );

    a.kill().unwrap();
    a.wait().unwrap();
    terminate(b);
    let ledger = Ledger::count(&input, &delivered_ids(&s3_client, &bucket).await, &[]);
    let scenario = match exactly_once {
        true => "fencing: S3 held and lease table hung past the failover time, exactly_once",
        false => "fencing: S3 held and lease table hung past the failover time",
    };
    println!("{}", ledger.line(scenario));
    assert_eq!(ledger.missing, 0, "{ledger:?}");
    // A PutObject on the wire lands once released: without exactly_once its records are
    // B's too (at most that many duplicates); with it, the key is the segment's, B wrote it
    // first, and A's conditional create leaves it as it is.
    let mut on_the_wire_records = 0;
    let put_objects = on_the_wire
        .iter()
        .filter(|r| r.starts_with("PUT ") && part_of(r).is_none());
    for request in put_objects {
        let path = request
            .trim_start_matches("PUT /")
            .split('?')
            .next()
            .unwrap();
        let key = path.strip_prefix(&format!("{bucket}/")).unwrap();
        if list_keys(&s3_client, &bucket, key)
            .await
            .contains(&key.to_string())
        {
            let body = get_object(&s3_client, &bucket, key).await;
            on_the_wire_records += body.iter().filter(|b| **b == b'\n').count();
        }
    }
    println!("records in objects on the wire when A was cut off: {on_the_wire_records}");
    if exactly_once {
        assert_eq!(ledger.duplicated, 0, "{ledger:?}");
    } else {
        assert!(ledger.duplicated <= on_the_wire_records, "{ledger:?}");
    }
}
