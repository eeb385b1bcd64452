//! Crash safety of the spine: SIGKILL the process in the middle of a run, several times,
//! rerun it each time; every input record ends up delivered (or dead-lettered) — none
//! missing. Duplicates (records in files written after the last checkpoint) are allowed and
//! reported, and a graceful SIGTERM leaves none. With `exactly_once = true` the same kills
//! leave no duplicate at all, and even a rerun from scratch rewrites nothing.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

fn write_config(dir: &Path, input: &Path, lake: &Path) -> std::path::PathBuf {
    write_config_with(dir, input, lake, "interval = \"1s\"", false)
}

fn write_config_with(
    dir: &Path,
    input: &Path,
    lake: &Path,
    interval: &str,
    exactly_once: bool,
) -> std::path::PathBuf {
    let config = format!(
        r#"
name = "crash"
[source]
type = "file"
path = {input:?}
[processing]
time_field = ".ts"
[destination]
type = "local"
path = {lake:?}
prefix = "events/dt=!{{timestamp:yyyy-MM-dd}}/"
concurrency = 2
exactly_once = {exactly_once}
[destination.buffering]
size = "1 MiB"
{interval}
[destination.format]
type = "parquet"
compression = "zstd"
"#
    );
    let path = dir.join("crash.toml");
    std::fs::write(&path, config).unwrap();
    path
}

fn input_ids(input: &[u8]) -> Vec<String> {
    ndjson_field(input, "event_id")
}

fn ledger(ids: &[String], lake: &Path) -> Ledger {
    let dead: Vec<String> = dead_letters(lake)
        .iter()
        .filter_map(|(_, r)| event_id_of(&r.raw_bytes().unwrap()))
        .collect();
    Ledger::count(
        ids,
        &parquet_strings(&lake.join("events"), "event_id"),
        &dead,
    )
}

/// Starts a run and kills it with SIGKILL once `objects` objects are in the lake.
fn run_and_kill_after(config: &Path, lake: &Path, objects: usize) {
    let mut child = spillway()
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_under(&lake.join("events"), ".parquet").len() < objects {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed; use more input"
        );
        assert!(Instant::now() < deadline, "no progress within 120 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be killed; use more input"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
}

/// Kills a run five times, after 1, 2, … 5 more objects, then runs it to the end.
fn kill_five_times_then_finish(config: &Path, lake: &Path) {
    let mut previous = 0;
    for kill_after in [1, 2, 3, 4, 5] {
        let threshold =
            previous.max(files_under(&lake.join("events"), ".parquet").len()) + kill_after;
        run_and_kill_after(config, lake, threshold);
        previous = threshold;
    }
    run_ok(spillway().args(["run", "--config"]).arg(config));
}

#[test]
fn exactly_once_sigkill_x5_then_rerun_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("clickstream", 60_000, 13, "2024-05-01T00:00:00");
    let input_path = dir.path().join("events.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let lake = dir.path().join("lake");
    // A 1 s interval: segments closed by age too, whose ends only the segment log knows.
    let config = write_config_with(dir.path(), &input_path, &lake, "interval = \"1s\"", true);
    let ids = input_ids(&input);

    kill_five_times_then_finish(&config, &lake);
    let ledger = ledger(&ids, &lake);
    println!("{}", ledger.line("exactly_once: sigkill x5 then rerun"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    assert_eq!(ledger.delivered, ledger.input, "{ledger:?}");
}

#[test]
fn exactly_once_rerun_from_scratch_rewrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("clickstream", 20_000, 14, "2024-05-01T00:00:00");
    let input_path = dir.path().join("events.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let lake = dir.path().join("lake");
    // Size alone closes segments, so every boundary follows from the records.
    let config = write_config_with(dir.path(), &input_path, &lake, "interval = \"900s\"", true);
    run_ok(spillway().args(["run", "--config"]).arg(&config));
    let objects = files_under(&lake.join("events"), ".parquet");
    assert!(objects.len() >= 5, "{objects:?}");

    // Forget every checkpoint: the whole input is read and converted again.
    std::fs::remove_dir_all(lake.join("_checkpoints")).unwrap();
    let out = run_ok(
        spillway()
            .env("RUST_LOG", "info")
            .args(["run", "--config"])
            .arg(&config),
    );
    assert_eq!(files_under(&lake.join("events"), ".parquet"), objects);
    let ledger = ledger(&input_ids(&input), &lake);
    println!("{}", ledger.line("exactly_once: rerun from scratch"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("already delivered by an earlier run"), "{log}");
}

#[test]
fn sigkill_mid_run_then_rerun_loses_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("clickstream", 60_000, 11, "2024-05-01T00:00:00");
    let input_path = dir.path().join("events.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let lake = dir.path().join("lake");
    let config = write_config(dir.path(), &input_path, &lake);
    let ids = input_ids(&input);

    kill_five_times_then_finish(&config, &lake);

    let ledger = ledger(&ids, &lake);
    println!("{}", ledger.line("sigkill x5 then rerun"));
    assert_eq!(ledger.missing, 0, "{ledger:?}");
    assert_eq!(ledger.dead_lettered, 0, "{ledger:?}");
    assert_eq!(
        ledger.delivered,
        ledger.input + ledger.duplicated,
        "{ledger:?}"
    );
    // No half-written object is ever visible: every file reads back.
    assert!(files_under(&lake, "")
        .iter()
        .all(|f| !f.to_string_lossy().contains(".spillway-tmp-")));
}

#[test]
fn sigterm_flushes_commits_and_a_rerun_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("clickstream", 40_000, 12, "2024-05-01T00:00:00");
    let input_path = dir.path().join("events.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let lake = dir.path().join("lake");
    let config = write_config(dir.path(), &input_path, &lake);

    let mut child = spillway()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_under(&lake.join("events"), ".parquet").is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the signal; use more input"
    );
    let out = terminate(child);
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped by signal"));

    run_ok(spillway().args(["run", "--config"]).arg(&config));
    let ledger = ledger(&input_ids(&input), &lake);
    println!("{}", ledger.line("sigterm then rerun"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");
}
