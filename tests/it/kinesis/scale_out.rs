//! Several workers on one stream and one lease table (kinesis-local + dynalite, real
//! processes, a failover time of 3 s): workers joining one by one settle at 2–3 of 8 leases
//! each and then stay put; leaving gracefully (SIGTERM) and moving leases between workers
//! hands them over drained and checkpointed, so the ledger has nothing missing and nothing
//! twice without `exactly_once`; a worker killed with SIGKILL has its shards read again by the
//! survivor once its leases expire.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use super::*;

const FAILOVER: Duration = Duration::from_secs(3);

/// The Kinesis example with a 3 s failover time.
fn config(dir: &Path) -> PathBuf {
    config_with_failover(dir, FAILOVER)
}

/// The Kinesis example with `failover` as its failover time.
fn config_with_failover(dir: &Path, failover: Duration) -> PathBuf {
    let example =
        std::fs::read_to_string(repo_root().join("examples/kinesis-to-lake.toml")).unwrap();
    let config = example.replace(
        "failover_time = \"10s\"",
        &format!("failover_time = \"{}s\"", failover.as_secs()),
    );
    assert!(config.contains(&format!("failover_time = \"{}s\"", failover.as_secs())));
    let path = dir.join("scale-out.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// One worker: a process with a lake of its own.
struct Worker {
    child: Child,
    lake: PathBuf,
}

fn start_worker(config: &Path, names: &Names, dir: &Path, n: usize) -> Worker {
    start_worker_with(config, names, dir, n, &[])
}

fn start_worker_with(config: &Path, names: &Names, dir: &Path, n: usize, extra: &[&str]) -> Worker {
    let lake = dir.join(format!("lake-{n}"));
    Worker {
        child: start_config(config, "polling", names, &lake, extra),
        lake,
    }
}

fn delivered_by(lakes: &[PathBuf]) -> Vec<String> {
    lakes.iter().flat_map(|lake| delivered(lake)).collect()
}

fn wait_for_all(lakes: &[PathBuf], count: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let have = delivered_by(lakes).len();
        if have >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {count} records delivered in 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Owner of every lease that is not a finished shard.
pub(super) async fn owners(table: &str) -> BTreeMap<String, String> {
    let client = dynamodb(&dynalite_url()).await;
    scan_all(&client, table)
        .await
        .iter()
        .map(|item| {
            let text = |k: &str| match item.get(k) {
                Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => s.clone(),
                _ => String::new(),
            };
            (text("leaseKey"), text("leaseOwner"))
        })
        .collect()
}

fn held_counts(owners: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for owner in owners.values() {
        *counts.entry(owner.clone()).or_default() += 1;
    }
    counts
}

/// Waits until `workers` workers hold the `shards` leases, each within one of the fair share;
/// returns how long it took.
async fn wait_balanced(table: &str, shards: usize, workers: usize) -> Duration {
    let started = Instant::now();
    loop {
        let counts = held_counts(&owners(table).await);
        let balanced = counts.len() == workers
            && !counts.contains_key("")
            && counts.values().sum::<usize>() == shards
            && counts
                .values()
                .all(|n| (shards / workers..=shards.div_ceil(workers)).contains(n));
        if balanced {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not balanced over {workers} workers in 90 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_joining_and_leaving_share_the_shards_and_deliver_everything_once() {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "scale", 8).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    put_records(&client, &names.stream, &make_records(0, 4_000)).await;

    let first = start_worker(&config, &names, dir.path(), 1);
    let mut lakes = vec![first.lake.clone()];
    wait_for_all(&lakes, 4_000);
    assert_eq!(held_counts(&owners(&names.lease_table).await).len(), 1);

    // Two more join, 5 s apart: the leases spread to 2–3 each, then nothing moves.
    let second = start_worker(&config, &names, dir.path(), 2);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let third = start_worker(&config, &names, dir.path(), 3);
    lakes.extend([second.lake.clone(), third.lake.clone()]);
    let took = wait_balanced(&names.lease_table, 8, 3).await;
    println!("balanced over 3 workers {took:?} after the third joined");
    let settled = owners(&names.lease_table).await;
    // `spillway leases` shows the same table.
    let mut leases = worker_command("leases", &config, "polling", &names, dir.path(), &[]);
    let report = String::from_utf8(run_ok(&mut leases).stdout).unwrap();
    assert!(
        report.ends_with(&format!("8 leases in {}, 3 workers\n", names.lease_table)),
        "{report}"
    );
    for (shard, owner) in &settled {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with(shard.as_str()) && l.contains(owner.as_str())),
            "{shard} of {owner} in\n{report}"
        );
    }
    put_records(&client, &names.stream, &make_records(4_000, 8_000)).await;
    wait_for_all(&lakes, 8_000);
    tokio::time::sleep(FAILOVER * 2).await;
    assert_eq!(
        owners(&names.lease_table).await,
        settled,
        "a lease moved while nothing changed"
    );
    for lake in &lakes[1..] {
        assert!(!delivered(lake).is_empty(), "every worker delivered");
    }

    // The second leaves (SIGTERM): its leases are released and taken by the others.
    terminate(second.child);
    let took = wait_balanced(&names.lease_table, 8, 2).await;
    println!("balanced over 2 workers {took:?} after the second left");
    put_records(&client, &names.stream, &make_records(8_000, 12_000)).await;
    wait_for_all(&lakes, 12_000);

    // The third leaves too; the first reads everything again alone.
    terminate(third.child);
    wait_balanced(&names.lease_table, 8, 1).await;
    put_records(&client, &names.stream, &make_records(12_000, 13_000)).await;
    wait_for_all(&lakes, 13_000);
    terminate(first.child);

    let ledger = Ledger::count(&ids(0, 13_000), &delivered_by(&lakes), &[]);
    println!(
        "{}",
        ledger.line("scale out 1 → 3 → 1 without exactly_once")
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    for lake in &lakes {
        assert_in_order_per_key(lake);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_workers_shards_are_read_again_once_its_leases_expire() {
    killed_worker(false).await;
}

/// With `exactly_once` (both workers writing one lake, so that a segment re-written under
/// its logged key replaces the same object), the takeover doubles nothing.
#[tokio::test(flavor = "multi_thread")]
async fn with_exactly_once_a_takeover_after_sigkill_doubles_nothing() {
    killed_worker(true).await;
}

async fn killed_worker(exactly_once: bool) {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "takeover", 4).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    if exactly_once {
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "[destination.buffering]",
            "exactly_once = true\n\n[destination.buffering]",
        );
        config = dir.path().join("once.toml");
        std::fs::write(&config, text).unwrap();
    }
    put_records(&client, &names.stream, &make_records(0, 2_000)).await;
    let listen = free_address();
    let survivor = start_worker_with(
        &config,
        &names,
        dir.path(),
        1,
        &["--metrics-listen", &listen],
    );
    let victim_lake = if exactly_once { 1 } else { 2 };
    let mut victim = start_worker(&config, &names, dir.path(), victim_lake);
    let mut lakes = vec![survivor.lake.clone()];
    if !exactly_once {
        lakes.push(victim.lake.clone());
    }
    wait_for_all(&lakes, 2_000);
    wait_balanced(&names.lease_table, 4, 2).await;

    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    let killed = Instant::now();
    put_records(&client, &names.stream, &make_records(2_000, 4_000)).await;
    loop {
        let counts = held_counts(&owners(&names.lease_table).await);
        if counts.len() == 1 {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the survivor did not take the leases over: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let takeover = killed.elapsed();
    println!("takeover {takeover:?} after SIGKILL (failover time {FAILOVER:?})");
    // Expiry is the failover time after the victim's last renewal (at most a third of it
    // before the kill), seen at the survivor's next lease round (every third of it).
    assert!(
        takeover <= FAILOVER + FAILOVER / 3 + Duration::from_secs(2),
        "takeover took {takeover:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while Ledger::count(&ids(0, 4_000), &delivered_by(&lakes), &[]).missing > 0 {
        assert!(Instant::now() < deadline, "not all delivered in 120 s");
        std::thread::sleep(Duration::from_millis(300));
    }
    // The survivor's lease metrics: all four held now; the victim's two were taken.
    assert_eq!(metric(&listen, "spillway_leases_held"), 4.0);
    assert!(metric(&listen, "spillway_leases_taken_total") >= 4.0);
    terminate(survivor.child);
    let ledger = Ledger::count(&ids(0, 4_000), &delivered_by(&lakes), &[]);
    let scenario = match exactly_once {
        true => "SIGKILL of one of two workers, exactly_once",
        false => "SIGKILL of one of two workers",
    };
    println!("{}", ledger.line(scenario));
    assert_eq!(ledger.missing, 0, "{ledger:?}");
    if exactly_once {
        assert_eq!(ledger.duplicated, 0, "{ledger:?}");
    }
}

/// DynamoDB throttles 30 % of the lease table's requests (the fault proxy in front of
/// dynalite): two workers still settle, no lease changes hands afterwards, and everything is
/// delivered once. With the default failover time (10 s): throttled calls back off for
/// seconds, which a 3 s failover time does not leave room for on a loaded machine.
#[tokio::test(flavor = "multi_thread")]
async fn lease_table_throttling_makes_no_lease_flap_and_no_duplicate() {
    use crate::support::fault_proxy::{FaultProxy, Plan};
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "throttled", 4).await;
    let dir = tempfile::tempdir().unwrap();
    let failover = Duration::from_secs(10);
    let config = config_with_failover(dir.path(), failover);
    let proxy = FaultProxy::start(&dynalite_url(), Plan::dynamodb_throttling(0.3));
    let start = |n: usize| {
        let lake = dir.path().join(format!("lake-{n}"));
        let child = worker_command("run", &config, "polling", &names, &lake, &[])
            .env("AWS_ENDPOINT_URL_DYNAMODB", &proxy.url)
            .spawn()
            .unwrap();
        (child, lake)
    };
    put_records(&client, &names.stream, &make_records(0, 2_000)).await;
    let (first, first_lake) = start(1);
    let (second, second_lake) = start(2);
    let lakes = vec![first_lake, second_lake];
    wait_for_all(&lakes, 2_000);
    wait_balanced(&names.lease_table, 4, 2).await;
    let settled = owners(&names.lease_table).await;
    for round in 0..4 {
        put_records(
            &client,
            &names.stream,
            &make_records(2_000 + round * 500, 2_500 + round * 500),
        )
        .await;
        tokio::time::sleep(failover / 2).await;
        assert_eq!(
            owners(&names.lease_table).await,
            settled,
            "a lease changed hands under throttling (round {round})"
        );
    }
    wait_for_all(&lakes, 4_000);
    let throttled = proxy
        .stats
        .injected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        throttled > 20,
        "the lease table was throttled ({throttled} answers)"
    );
    for worker in [first, second] {
        let out = terminate(worker);
        for line in String::from_utf8_lossy(&out.stderr).lines() {
            if line.contains("WARN") || line.contains("ERROR") {
                println!("worker: {line}");
            }
        }
    }
    let ledger = Ledger::count(&ids(0, 4_000), &delivered_by(&lakes), &[]);
    println!(
        "{} ({throttled} throttled lease-table requests)",
        ledger.line("two workers, 30 % of lease-table requests throttled")
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}

/// A shard split while three workers share a 2-shard stream: no child lease exists before
/// its parent is checkpointed `SHARD_END` (checked at every look at the table), the children
/// are read by whichever workers take them, and nothing is missing or doubled.
#[tokio::test(flavor = "multi_thread")]
async fn a_shard_split_under_three_workers_reads_the_parent_first_and_loses_nothing() {
    let client = kinesis(&kinesis_url()).await;
    let names = Names::created(&client, "split3", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    put_records(&client, &names.stream, &make_records(0, 3_000)).await;
    let workers: Vec<Worker> = (1..=3)
        .map(|n| start_worker(&config, &names, dir.path(), n))
        .collect();
    let lakes: Vec<PathBuf> = workers.iter().map(|w| w.lake.clone()).collect();
    wait_for_all(&lakes, 3_000);

    let parent = client
        .list_shards()
        .stream_name(&names.stream)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_string();
    client
        .split_shard()
        .stream_name(&names.stream)
        .shard_to_split(&parent)
        .new_starting_hash_key("85070591730234615865843651857942052864")
        .send()
        .await
        .unwrap();
    wait_until_active(&client, &names.stream).await;
    put_records(&client, &names.stream, &make_records(3_000, 6_000)).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let client_db = dynamodb(&dynalite_url()).await;
    loop {
        let rows = scan_all(&client_db, &names.lease_table).await;
        let text =
            |item: &std::collections::HashMap<String, AttributeValue>, k: &str| match item.get(k) {
                Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => s.clone(),
                _ => String::new(),
            };
        let parent_ended = rows
            .iter()
            .any(|r| text(r, "leaseKey") == parent && text(r, "checkpoint") == "SHARD_END");
        let children: Vec<String> = rows
            .iter()
            .filter(|r| {
                matches!(r.get("parentShardId"), Some(AttributeValue::Ss(p)) if p.contains(&parent))
            })
            .map(|r| text(r, "leaseOwner"))
            .collect();
        assert!(
            children.is_empty() || parent_ended,
            "a child lease exists before its parent ended"
        );
        if children.len() == 2 && delivered_by(&lakes).len() >= 6_000 {
            println!("children of {parent} read by {children:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the split was not consumed in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for worker in workers {
        terminate(worker.child);
    }
    let ledger = Ledger::count(&ids(0, 6_000), &delivered_by(&lakes), &[]);
    println!("{}", ledger.line("shard split under three workers"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}
