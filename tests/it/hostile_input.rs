//! What a hostile or unlucky input can do, and what it may not: values that look like paths
//! stay in their partition, two runs on one checkpoint cannot both deliver, a replaced input
//! file is read from its start, a damaged gzip file delivers what decodes and the next file
//! is read, and an unwritable lake is refused at start. Every test counts every record.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::{json, Value};

/// A local-lake config: NDJSON objects (so any record shape is delivered as it is) under
/// `prefix`, with `extra` TOML lines in `[destination]`.
fn config(dir: &Path, input: &Path, lake: &Path, prefix: &str, keys: &str) -> PathBuf {
    let text = format!(
        r#"
name = "hostile"
[source]
type = "file"
path = {input:?}
[processing]
partition_keys = {{ {keys} }}
[destination]
type = "local"
path = {lake:?}
prefix = {prefix:?}
[destination.buffering]
size = "1 MiB"
interval = "1s"
[destination.format]
type = "ndjson"
"#
    );
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every delivered line under `dir` (NDJSON objects), as JSON values.
fn delivered(dir: &Path) -> Vec<Value> {
    files_under(dir, "")
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Every file below `dir`, relative to it.
fn all_files(dir: &Path) -> Vec<String> {
    files_under(dir, "")
        .iter()
        .map(|f| f.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[test]
fn partition_key_values_cannot_leave_their_partition() {
    let dir = tempfile::tempdir().unwrap();
    // The lake is two levels down, so `../../x` would land inside `dir` if it escaped.
    let lake = dir.path().join("a/b/lake");
    let input = dir.path().join("input.ndjson");
    let values = [
        "../../../../../x",
        "a/b",
        "",
        "..",
        ".",
        "DE",
        "x=1?#%",
        "tab\there",
    ];
    let mut text = String::new();
    for (n, value) in values.iter().enumerate() {
        text.push_str(&json!({ "id": n, "country": value }).to_string());
        text.push('\n');
    }
    std::fs::write(&input, &text).unwrap();
    let config = config(
        dir.path(),
        &input,
        &lake,
        "events/country=!{partitionKeyFromQuery:country}/",
        r#"country = ".country""#,
    );
    run_ok(spillway().args(["run", "--config"]).arg(&config));

    // Nothing outside the lake but the test's own files.
    let outside: Vec<String> = all_files(dir.path())
        .into_iter()
        .filter(|f| !f.starts_with("a/b/lake/"))
        .collect();
    assert_eq!(outside, ["hostile.toml", "input.ndjson"]);
    // One folder per value, directly under events/, named with the escaped value.
    let mut folders: Vec<String> = std::fs::read_dir(lake.join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        [
            "country=%2E",
            "country=%2E%2E",
            "country=..%2F..%2F..%2F..%2F..%2Fx",
            "country=DE",
            "country=a%2Fb",
            "country=tab%09here",
            "country=x%3D1%3F%23%25",
        ]
    );
    for folder in &folders {
        let files = files_under(&lake.join("events").join(folder), "");
        assert_eq!(files.len(), 1, "{folder}: {files:?}");
        assert_eq!(files[0].parent().unwrap(), lake.join("events").join(folder));
    }
    // Every record is in the lake or the dead letter: the empty value is refused.
    let lines = delivered(&lake.join("events"));
    assert_eq!(lines.len(), values.len() - 1);
    let dead = dead_letters(&lake);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "processing-failed");
    assert_eq!(dead[0].1.error_code, "Partition.EmptyKey");
    assert!(dead[0]
        .1
        .error_message
        .contains("`country` is an empty string"));

    // DuckDB, reading the Hive folders, sees the original values again.
    let glob = format!("{}/events/*/*", lake.display());
    let read = python_json(
        "import duckdb, json, sys\nrows = duckdb.sql(f\"select country, id from read_json_auto('{sys.argv[1]}', hive_partitioning=true, hive_types={{'country': 'VARCHAR'}}) order by id\").fetchall()\nprint(json.dumps([r[0] for r in rows]))",
        &[&glob],
    );
    let want: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
    assert_eq!(read, json!(want));
}

#[test]
fn a_config_prefix_that_leaves_the_lake_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("input.ndjson");
    std::fs::write(&input, "{\"id\":1}\n").unwrap();
    let config = config(dir.path(), &input, &lake, "../../escape/", "");
    let out = spillway()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("destination.prefix: object prefix `../../escape/` has a `..` folder"),
        "{stderr}"
    );
    assert!(!lake.exists() && !dir.path().join("escape").exists());
}

/// 200,000 small records: enough for a run of a few seconds.
fn many_records(path: &Path) -> usize {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for n in 0..200_000 {
        writeln!(file, "{{\"id\":{n},\"pad\":\"{}\"}}", "p".repeat(40)).unwrap();
    }
    200_000
}

fn delivered_ids(lake: &Path) -> Vec<String> {
    delivered(&lake.join("t"))
        .iter()
        .map(|v| v["id"].to_string())
        .collect()
}

#[test]
fn a_second_run_on_the_same_checkpoint_is_refused_while_the_first_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("input.ndjson");
    let count = many_records(&input);
    let config = config(dir.path(), &input, &lake, "t/", "");
    let first = spillway()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = lake.join("_checkpoints/hostile.json.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid")) {
        assert!(
            Instant::now() < deadline,
            "the first run never took its lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let second = spillway()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    let holder = format!("pid {} on host ", first.id());
    assert!(
        stderr.contains("is in use by another spillway run"),
        "{stderr}"
    );
    assert!(stderr.contains(&holder), "{stderr}");
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ids = delivered_ids(&lake);
    assert_eq!(ids.len(), count, "every record once, not twice");

    // A holder killed with SIGKILL leaves no stale lock: the next run goes ahead.
    std::fs::remove_dir_all(&lake).unwrap();
    let mut killed = spillway()
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid")) {
        std::thread::sleep(Duration::from_millis(5));
    }
    killed.kill().unwrap();
    killed.wait().unwrap();
    run_ok(spillway().args(["run", "--config"]).arg(&config));
    let ids = delivered_ids(&lake);
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        count,
        "none missing after the kill and rerun"
    );
}

#[test]
fn a_replaced_input_file_is_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("app.ndjson");
    let write = |from: usize, to: usize| {
        let text: String = (from..to)
            .map(|n| format!("{{\"id\":{n},\"pad\":\"{}\"}}\n", "x".repeat(n % 7)))
            .collect();
        std::fs::write(&input, text).unwrap();
    };
    write(0, 1000);
    let config = config(dir.path(), &input, &lake, "t/", "");
    run_ok(spillway().args(["run", "--config"]).arg(&config));
    assert_eq!(delivered_ids(&lake).len(), 1000);

    // Rotated: a new, shorter file under the same path. Today's offset would skip it all.
    std::fs::rename(&input, dir.path().join("app.ndjson.1")).unwrap();
    write(5000, 5100);
    let out = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("replaced:"), "{summary}");
    // Replaced in place by a longer file: read from its start, not from the old offset.
    write(9000, 11_000);
    run_ok(spillway().args(["run", "--config"]).arg(&config));

    let ids = delivered_ids(&lake);
    let want: Vec<String> = (0..1000)
        .chain(5000..5100)
        .chain(9000..11_000)
        .map(|n| n.to_string())
        .collect();
    let ledger = Ledger::count(&want, &ids, &[]);
    assert_eq!(
        (ledger.missing, ledger.duplicated),
        (0, 0),
        "{}",
        ledger.line("rotation")
    );
    assert!(
        dead_letters(&lake).is_empty(),
        "no fragment of a line was dead-lettered"
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_truncated_gzip_file_delivers_what_decodes_and_the_run_goes_on_with_the_next_file() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).unwrap();
    let lake = dir.path().join("lake");
    let first: String = (0..5000)
        .map(|n| format!("{{\"id\":{n},\"f\":\"a\"}}\n"))
        .collect();
    let compressed = gzip(first.as_bytes());
    std::fs::write(
        inputs.join("1.ndjson.gz"),
        &compressed[..compressed.len() * 2 / 3],
    )
    .unwrap();
    let second: String = (0..100)
        .map(|n| format!("{{\"id\":{},\"f\":\"b\"}}\n", 10_000 + n))
        .collect();
    std::fs::write(inputs.join("2.ndjson"), &second).unwrap();
    let config = config(dir.path(), &inputs, &lake, "t/", "");
    let out = run_ok(spillway().args(["run", "--config"]).arg(&config));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("damaged:") && summary.contains("1.ndjson.gz"),
        "{summary}"
    );

    let ids = delivered_ids(&lake);
    let from_first = ids
        .iter()
        .filter(|id| id.parse::<u32>().unwrap() < 10_000)
        .count();
    assert!(
        from_first > 1000,
        "what decoded before the damage: {from_first}"
    );
    let from_second = ids.len() - from_first;
    assert_eq!(from_second, 100, "the next file is read");
    let dead = dead_letters(&lake);
    assert_eq!(dead.len(), 1, "the partial line before the damage");
    assert_eq!(dead[0].1.error_code, "Source.DamagedInput");
    let partial = dead[0].1.raw_bytes().unwrap();
    assert!(first
        .as_bytes()
        .windows(partial.len())
        .any(|w| w == &partial[..]));
    // Whole lines delivered, then the partial line: exactly the decodable prefix.
    let mut firsts: Vec<u32> = ids
        .iter()
        .map(|id| id.parse().unwrap())
        .filter(|n| *n < 10_000)
        .collect();
    firsts.sort();
    assert_eq!(firsts, (0..from_first as u32).collect::<Vec<_>>());
    let next_line = first.lines().nth(from_first).unwrap();
    assert!(next_line.as_bytes().starts_with(&partial), "{next_line}");

    // A rerun neither delivers nor dead-letters anything twice, and still names the damage.
    let out = run_ok(spillway().args(["run", "--config"]).arg(&config));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dead-lettered by an earlier run"));
    assert_eq!(delivered_ids(&lake).len(), ids.len());
    assert_eq!(dead_letters(&lake).len(), 1);
}

#[test]
fn an_unwritable_lake_is_refused_at_start_naming_the_folder() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run the binary as another user (CI runs as root)");
        return;
    }
    // Everything the unprivileged user needs is in a world-readable folder; the lake in it
    // belongs to root and is not writable by others.
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world");
    std::fs::create_dir(&world).unwrap();
    let binary = world.join("spillway");
    std::fs::copy(env!("CARGO_BIN_EXE_spillway"), &binary).unwrap();
    let input = world.join("input.ndjson");
    std::fs::write(&input, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n").unwrap();
    let lake = world.join("lake");
    std::fs::create_dir(&lake).unwrap();
    let config = config(&world, &input, &lake, "t/", "");
    use std::os::unix::fs::PermissionsExt;
    for path in [dir.path(), &world] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for path in [&input, &config] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let started = Instant::now();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&binary)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "refused at once"
    );
    assert!(stderr.contains(&lake.display().to_string()), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&lake).unwrap().count(),
        0,
        "nothing written"
    );
}
