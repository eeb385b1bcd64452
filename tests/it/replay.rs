//! `spillway replay`: a stream that keeps a source-record backup can rebuild any destination
//! from it. Here a Parquet lake with a backup is replayed into a second, NDJSON stream (a "new
//! table"), which then holds every record exactly once; a time range that ends before the
//! backup was written replays nothing; a stream without a backup refuses with a clear error.

use std::io::Read;
use std::path::Path;

use crate::support::*;

fn write_config(path: &Path, name: &str, input: &Path, lake: &Path, format: &str, backup: bool) {
    let backup = if backup {
        "[destination.backup]\nprefix = \"backup/!{timestamp:yyyy/MM/dd}/\"\n"
    } else {
        ""
    };
    std::fs::write(
        path,
        format!(
            r#"
name = "{name}"
[source]
type = "file"
path = {input:?}
[processing]
time_field = ".ts"
[destination]
type = "local"
path = {lake:?}
prefix = "events/dt=!{{timestamp:yyyy-MM-dd}}/"
{backup}[destination.buffering]
size = "1 MiB"
interval = "1s"
[destination.format]
{format}
"#
        ),
    )
    .unwrap();
}

/// The `event_id`s in every gzip NDJSON object under `dir`.
fn ndjson_gz_ids(dir: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for file in files_under(dir, ".gz") {
        let mut text = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&file).unwrap())
            .read_to_end(&mut text)
            .unwrap();
        ids.extend(ndjson_field(&text, "event_id"));
    }
    ids
}

#[test]
fn a_backup_replays_into_a_new_destination_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = gen_events("clickstream", 4000, 41, "2024-05-01T00:00:00");
    let input_path = dir.path().join("events.ndjson");
    std::fs::write(&input_path, &input).unwrap();
    let ids = ndjson_field(&input, "event_id");

    // The original stream: Parquet, with the raw backup beside it.
    let (lake, config) = (dir.path().join("lake"), dir.path().join("lake.toml"));
    write_config(
        &config,
        "clicks",
        &input_path,
        &lake,
        "type = \"parquet\"",
        true,
    );
    let before = chrono::Utc::now() - chrono::Duration::hours(1);
    run_ok(spillway().args(["run", "--config"]).arg(&config));
    assert_eq!(ndjson_gz_ids(&lake.join("backup")).len(), 4000);

    // A new table from the backup: another stream, NDJSON, whose own source is never read.
    let (copy, copy_config) = (dir.path().join("copy"), dir.path().join("copy.toml"));
    let never_read = dir.path().join("never-read.ndjson");
    std::fs::write(&never_read, "").unwrap();
    let ndjson = "type = \"ndjson\"\ncompression = \"gzip\"";
    write_config(&copy_config, "copy", &never_read, &copy, ndjson, false);
    let backup = lake.join("backup");
    let out = run_ok(
        spillway()
            .args(["replay", "--config"])
            .arg(&copy_config)
            .arg("--from")
            .arg(&backup),
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("replay:     4000 records"), "{summary}");
    let ledger = Ledger::count(&ids, &ndjson_gz_ids(&copy.join("events")), &[]);
    println!("{}", ledger.line("replay into a new destination"));
    assert_eq!((ledger.missing, ledger.duplicated), (0, 0), "{ledger:?}");

    // A range that ends before the backup was written replays nothing.
    let out = run_ok(
        spillway()
            .args(["replay", "--config"])
            .arg(&copy_config)
            .arg("--from")
            .arg(&backup)
            .args(["--until", &before.to_rfc3339()]),
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("replay:     0 records from 0 objects"),
        "{summary}"
    );

    // A stream with no backup of its own, and no --from, says so.
    let out = spillway()
        .args(["replay", "--config"])
        .arg(&copy_config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keeps no source-record backup") && stderr.contains("--from"),
        "{stderr}"
    );
}
