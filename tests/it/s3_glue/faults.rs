//! S3 under faults, from the fault proxy in front of moto: a SlowDown storm, a missing bucket,
//! a kill in the middle of a multipart upload, an outage longer than the retry budget and its
//! redrive, a dead letter that fails, a stop while the destination is down; and exactly-once
//! reruns.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_slowdown_storm_on_30_percent_of_requests_still_delivers_every_record() {
    let moto = moto_url();
    let s3 = s3(&moto).await;
    let bucket = unique_name("spillway-storm");
    create_bucket(&s3, &bucket).await;
    let proxy = FaultProxy::start(&moto, Plan::s3_slow_down(0.3));
    let dir = tempfile::tempdir().unwrap();
    let (input, ids) = events_file(dir.path(), 30_000, 31);
    let config = fault_config(dir.path(), &input, &bucket, "");
    let mut cmd = spillway();
    cmd.args(["run", "--config"]).arg(&config);
    aws_env(&mut cmd, &proxy.url);
    let out = run_ok(&mut cmd);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dead-lettered 0"));
    let injected = proxy
        .stats
        .injected
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(injected >= 3, "the storm happened: {injected} injected");

    let ledger = Ledger::count(&ids, &delivered_event_ids(&s3, &bucket).await, &[]);
    println!(
        "{} (503 SlowDown injected {injected} times)",
        ledger.line("s3 slowdown 30%")
    );
    assert_eq!(ledger.missing, 0, "{ledger:?}");
    assert_eq!(ledger.duplicated, 0, "{ledger:?}");
}

/// `exactly_once` against S3: a second run of the same input from scratch (checkpoints and
/// segment log removed) rebuilds the same objects under the same keys, and S3's
/// create-if-absent (`If-None-Match: *` on PutObject and CompleteMultipartUpload) keeps the
/// first copies: the bucket holds every record once.
#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_rerun_from_scratch_writes_no_object_twice() {
    let moto = moto_url();
    let s3 = s3(&moto).await;
    let bucket = unique_name("spillway-once");
    create_bucket(&s3, &bucket).await;
    let dir = tempfile::tempdir().unwrap();
    let (input, ids) = events_file(dir.path(), 30_000, 33);
    let config = fault_config(
        dir.path(),
        &input,
        &bucket,
        "exactly_once = true\npart_size = \"5 MiB\"",
    );
    // Size alone closes segments (6 MiB: multipart objects of 2 parts, and a smaller last one).
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("size = \"1 MiB\"", "size = \"6 MiB\"")
        .replace("interval = \"1s\"", "interval = \"900s\"")
        .replace("compression = \"gzip\"", "compression = \"none\"");
    std::fs::write(&config, text).unwrap();
    let run = || {
        let mut cmd = spillway();
        cmd.env("RUST_LOG", "info")
            .args(["run", "--config"])
            .arg(&config);
        aws_env(&mut cmd, &moto);
        run_ok(&mut cmd)
    };
    run();
    let keys = list_keys(&s3, &bucket, "events/").await;
    assert!(keys.len() >= 3, "{keys:?}");

    std::fs::remove_file(dir.path().join("checkpoint.json")).unwrap();
    std::fs::remove_file(dir.path().join("checkpoint.segments.json")).ok();
    let out = run();
    assert_eq!(list_keys(&s3, &bucket, "events/").await, keys);
    let log = String::from_utf8_lossy(&out.stderr);
    let skipped = log.matches("already delivered by an earlier run").count();
    assert_eq!(skipped, keys.len(), "{log}");
    let mut delivered = Vec::new();
    for key in &keys {
        let body = get_object(&s3, &bucket, key).await;
        delivered.extend(String::from_utf8(body).unwrap().lines().map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let ledger = Ledger::count(&ids, &delivered, &[]);
    println!(
        "{} ({} objects kept, {skipped} rebuilt and skipped)",
        ledger.line("s3 exactly_once: rerun from scratch"),
        keys.len()
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_such_bucket_sends_every_record_to_the_dead_letter_and_the_run_completes() {
    let moto = moto_url();
    let dir = tempfile::tempdir().unwrap();
    let (input, ids) = events_file(dir.path(), 3_000, 32);
    let config = fault_config(
        dir.path(),
        &input,
        "spillway-never-created",
        "check_bucket = false",
    );
    let dead = dir.path().join("dead");
    let text = std::fs::read_to_string(&config).unwrap()
        + &format!("[dead_letter]\ntype = \"local\"\npath = {:?}\n", dead);
    std::fs::write(&config, text).unwrap();
    let mut cmd = spillway();
    cmd.args(["run", "--config"]).arg(&config);
    aws_env(&mut cmd, &moto);
    let started = Instant::now();
    let out = run_ok(&mut cmd);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "permanent errors do not wait for the retry budget"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("delivered 0"));
    let letters = dead_letters(&dead);
    let dead_ids: Vec<String> = ids_in_dead_letter(&letters);
    let ledger = Ledger::count(&ids, &[], &dead_ids);
    println!("{}", ledger.line("s3 NoSuchBucket"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    for (kind, record) in &letters {
        assert_eq!(kind, "s3-failed");
        assert_eq!(record.error_code, "S3.NoSuchBucket");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_multipart_leaves_no_partial_object_and_a_rerun_delivers_everything() {
    let moto = moto_url();
    let s3 = s3(&moto).await;
    let bucket = unique_name("spillway-kill");
    create_bucket(&s3, &bucket).await;
    let dir = tempfile::tempdir().unwrap();
    // 40 MiB of uncompressed NDJSON in one buffer: one object of 8 × 5 MiB parts.
    let input = gen_events("clickstream", 80_000, 21, "2024-05-01T00:00:00");
    let input_path = dir.path().join("events.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let config = dir.path().join("kill.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "big"
[source]
type = "file"
path = {input_path:?}
checkpoint_file = "{dir}/checkpoint.json"
[destination]
type = "s3"
bucket = "{bucket}"
prefix = "big/"
part_size = "5 MiB"
upload_concurrency = 1
[destination.buffering]
size = "128 MiB"
interval = "900s"
[destination.format]
type = "ndjson"
"#,
            dir = dir.path().display()
        ),
    )
    .unwrap();
    // A slow proxy is not needed: kill as soon as the first part has been uploaded.
    let proxy = FaultProxy::start(&moto, Plan::pass());
    let mut cmd = spillway();
    cmd.args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    aws_env(&mut cmd, &proxy.url);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while proxy.count(|r| r.starts_with("PUT ") && r.contains("partNumber=")) == 0 {
        assert!(Instant::now() < deadline, "no UploadPart seen");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before a part was uploaded"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        proxy.count(|r| r.starts_with("POST ") && r.contains("uploadId=")),
        0,
        "the upload was not completed"
    );
    assert!(
        list_keys(&s3, &bucket, "big/").await.is_empty(),
        "no partial object is visible"
    );
    assert_eq!(
        open_uploads(&s3, &bucket).await,
        1,
        "the killed upload is still open"
    );

    let mut rerun = spillway();
    rerun.args(["run", "--config"]).arg(&config);
    aws_env(&mut rerun, &moto);
    run_ok(&mut rerun);
    assert_eq!(
        open_uploads(&s3, &bucket).await,
        0,
        "the rerun aborted the dangling upload"
    );
    let keys = list_keys(&s3, &bucket, "big/").await;
    assert_eq!(keys.len(), 1);
    let object = get_object(&s3, &bucket, &keys[0]).await;
    assert_eq!(object, input, "the rerun delivered every record, in order");
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key(&keys[0])
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().ends_with("-8\""),
        "8 parts: {:?}",
        head.e_tag()
    );
}

/// Issue 7's scenario 2: the destination is down for longer than the retry budget, so every
/// record goes to the dead letter (an S3 bucket that stays up); a redrive while it is still
/// down dead-letters them again with the attempts added up; once it is back, a redrive of the
/// newer dead letters delivers every record exactly once, and `--remove` deletes (S3
/// DeleteObject) the dead letters it redrove whole.
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_longer_than_the_retry_budget_is_dead_lettered_then_redriven_to_completion() {
    let moto = moto_url();
    let s3 = s3(&moto).await;
    let bucket = unique_name("spillway-redrive");
    let dead_bucket = unique_name("spillway-dlq");
    create_bucket(&s3, &bucket).await;
    create_bucket(&s3, &dead_bucket).await;
    let mut outage = Plan::s3_slow_down(1.0);
    outage.only = Some(|_, path| path.starts_with("/spillway-redrive-"));
    let proxy = FaultProxy::start(&moto, outage);
    let dir = tempfile::tempdir().unwrap();
    let (input, ids) = events_file(dir.path(), 3_000, 33);
    let config = fault_config(dir.path(), &input, &bucket, "check_bucket = false");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("retry_duration = \"60s\"", "retry_duration = \"2s\"")
        + &format!("[dead_letter]\ntype = \"s3\"\nbucket = {dead_bucket:?}\n");
    std::fs::write(&config, text).unwrap();
    let spillway_with = |args: &[&str]| {
        let mut cmd = spillway();
        cmd.args(args).arg("--config").arg(&config);
        aws_env(&mut cmd, &proxy.url);
        String::from_utf8_lossy(&run_ok(&mut cmd).stdout).into_owned()
    };

    // 1. The outage outlasts the retry budget: everything is dead-lettered.
    let summary = spillway_with(&["run"]);
    assert!(summary.contains("delivered 0"), "{summary}");
    let first = dead_letters_in(&s3, &dead_bucket).await;
    let ledger = Ledger::count(&ids, &[], &ids_in_dead_letter(&first));
    println!("{}", ledger.line("s3 down past the retry budget"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    // (A batch may have spent its whole budget waiting on the open circuit and made a single
    // attempt at the end, so the attempts are only compared per record below.)

    // 2. A redrive while it is still down: dead-lettered again, attempts added up.
    std::thread::sleep(Duration::from_millis(1100));
    let second_started = chrono::Utc::now();
    let summary = spillway_with(&["redrive", "--error-type", "s3-failed"]);
    assert!(
        summary.contains("redrive:     3000 records") && summary.contains("dead-lettered 3000"),
        "{summary}"
    );
    let since = second_started.to_rfc3339();
    let second: Vec<_> = dead_letters_in(&s3, &dead_bucket)
        .await
        .into_iter()
        .filter(|(_, r)| r.attempt_ending_timestamp >= second_started.timestamp_millis())
        .collect();
    assert_eq!(second.len(), 3000);
    // Each record's attempts are its first run's plus at least one more.
    let first_attempts_of: std::collections::HashMap<String, u32> = first
        .iter()
        .map(|(_, r)| {
            (
                event_id_of(&r.raw_bytes().unwrap()).unwrap(),
                r.attempts_made,
            )
        })
        .collect();
    for (_, record) in &second {
        let id = event_id_of(&record.raw_bytes().unwrap()).unwrap();
        assert!(
            record.attempts_made > first_attempts_of[&id] && record.error_code == "S3.SlowDown",
            "{id}: {} attempts now, {} before ({})",
            record.attempts_made,
            first_attempts_of[&id],
            record.error_code
        );
    }

    // 3. It is back: redriving the newer dead letters delivers every record once.
    proxy.set_plan(Plan::pass());
    let summary = spillway_with(&["redrive", "--since", &since, "--remove"]);
    assert!(
        summary.contains("redrive:     3000 records")
            && summary.contains("3000 outside the time range")
            && summary.contains("objects redriven whole were removed"),
        "{summary}"
    );
    let ledger = Ledger::count(&ids, &delivered_event_ids(&s3, &bucket).await, &[]);
    println!("{}", ledger.line("redrive after the outage"));
    // `--remove` deleted the second run's dead letters (redriven whole) and kept the first
    // run's, whose records were outside the range.
    let left = dead_letters_in(&s3, &dead_bucket).await;
    assert_eq!(left.len(), 3000);
    assert!(left
        .iter()
        .all(|(_, r)| r.attempt_ending_timestamp < second_started.timestamp_millis()));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}

/// Issue 7's scenario 5: the dead letter itself fails. Every record is headed for it (the
/// destination bucket does not exist), and the dead-letter bucket answers 503 to everything
/// for 4 s: the run keeps retrying, acknowledges nothing meanwhile, and once the dead letter
/// is back every record is in it.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_dead_letter_blocks_until_it_recovers_and_then_holds_every_record() {
    let moto = moto_url();
    let s3 = s3(&moto).await;
    let dead_bucket = unique_name("spillway-dead");
    create_bucket(&s3, &dead_bucket).await;
    let mut plan = Plan::s3_slow_down(1.0);
    plan.only = Some(|_, path| path.starts_with("/spillway-dead"));
    let proxy = FaultProxy::start(&moto, plan);
    let dir = tempfile::tempdir().unwrap();
    let (input, ids) = events_file(dir.path(), 3_000, 34);
    let config = fault_config(
        dir.path(),
        &input,
        "spillway-never-created",
        "check_bucket = false",
    );
    let text = std::fs::read_to_string(&config).unwrap()
        + &format!("[dead_letter]\ntype = \"s3\"\nbucket = \"{dead_bucket}\"\n");
    std::fs::write(&config, text).unwrap();
    let mut cmd = spillway();
    cmd.args(["run", "--config"]).arg(&config);
    aws_env(&mut cmd, &proxy.url);
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    std::thread::sleep(Duration::from_secs(4));
    let refused = proxy
        .stats
        .injected
        .load(std::sync::atomic::Ordering::Relaxed);
    proxy.set_plan(Plan::pass());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        refused >= 3,
        "the dead letter failed and was retried: {refused} refused writes"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the run waited for the dead letter"
    );

    let mut letters = Vec::new();
    let keys = s3
        .list_objects_v2()
        .bucket(&dead_bucket)
        .send()
        .await
        .unwrap();
    for object in keys.contents() {
        let body = s3
            .get_object()
            .bucket(&dead_bucket)
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let record: spillway_sinks::dead_letter::ErrorRecord =
                serde_json::from_slice(line).unwrap();
            letters.push((String::new(), record));
        }
    }
    let ledger = Ledger::count(&ids, &[], &ids_in_dead_letter(&letters));
    println!(
        "{} ({refused} dead-letter writes refused first)",
        ledger.line("dead letter failing for 4 s")
    );
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}

/// `shutdown_timeout` bounds a stop while S3 is down: SIGTERM with every delivery stuck in
/// its retries (503 on every object write, a 10-minute retry budget), and the process exits
/// within the timeout, code 1, having checkpointed nothing it did not deliver. A rerun once S3
/// is back delivers every record exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_timeout_bounds_a_stop_while_the_destination_is_down() {
    let moto = moto_url();
    let s3 = s3(&moto).await;
    let bucket = unique_name("spillway-stuck");
    create_bucket(&s3, &bucket).await;
    let mut plan = Plan::s3_slow_down(1.0);
    plan.only = Some(|method, _| method == hyper::Method::PUT || method == hyper::Method::POST);
    let proxy = FaultProxy::start(&moto, plan);
    let dir = tempfile::tempdir().unwrap();
    let (input, ids) = events_file(dir.path(), 3_000, 35);
    let config = fault_config(dir.path(), &input, &bucket, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("retry_duration = \"60s\"", "retry_duration = \"600s\"");
    let text = format!("shutdown_timeout = \"3s\"\n{text}");
    std::fs::write(&config, text).unwrap();
    let mut cmd = spillway();
    cmd.args(["run", "--config"]).arg(&config);
    aws_env(&mut cmd, &proxy.url);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy
        .stats
        .injected
        .load(std::sync::atomic::Ordering::Relaxed)
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "no delivery was attempted: {:?}",
            proxy.stats.requests.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    let signalled = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let waited = signalled.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        waited >= Duration::from_secs(3),
        "waited for the timeout: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(15),
        "exited soon after it: {waited:?}"
    );
    assert!(stdout.contains("shutdown_timeout passed"), "{stdout}");
    assert!(stdout.contains("the next run reads them again"), "{stdout}");
    assert!(list_keys(&s3, &bucket, "events/").await.is_empty());

    proxy.set_plan(Plan::pass());
    let mut rerun = spillway();
    rerun.args(["run", "--config"]).arg(&config);
    aws_env(&mut rerun, &proxy.url);
    run_ok(&mut rerun);
    let ledger = Ledger::count(&ids, &delivered_event_ids(&s3, &bucket).await, &[]);
    println!("{}", ledger.line("shutdown_timeout while S3 is down"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}
