//! The other input and output shapes: NDJSON from stdin, partitioned by a
//! `partitionKeyFromQuery` key, written as gzip NDJSON objects; read back line by line and
//! with DuckDB.

use std::io::{Read, Write};
use std::process::Stdio;

use crate::support::*;
use serde_json::Value;

/// `spillway run --config config` with `input` on stdin; its output once it exited 0.
fn run_with_stdin(config: &std::path::Path, input: &[u8]) -> std::process::Output {
    let mut child = spillway()
        .args(["run", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn stdin_to_gzip_ndjson_partitioned_by_a_query_key() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let config = dir.path().join("logs.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "logs"
[source]
type = "file"
path = "-"
[processing]
partition_keys = {{ service = ".service" }}
[destination]
type = "local"
path = {lake:?}
prefix = "logs/service=!{{partitionKeyFromQuery:service}}/!{{timestamp:yyyy}}/"
[destination.format]
type = "ndjson"
compression = "gzip"
compression_level = 1
"#
        ),
    )
    .unwrap();
    let input = gen_events("logs", 2000, 5, "2024-05-01T00:00:00");
    let out = run_with_stdin(&config, &input);
    assert!(String::from_utf8_lossy(&out.stdout).contains("read_json_auto"));

    let files = files_under(&lake.join("logs"), ".gz");
    assert!(
        files.len() >= 8,
        "one object per service at least: {files:?}"
    );
    let mut lines = 0;
    for file in &files {
        let folder = file
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                format!("service={}", record["service"].as_str().unwrap()),
                folder
            );
            lines += 1;
        }
    }
    assert_eq!(lines, 2000);
    assert!(
        !lake.join("_checkpoints").exists(),
        "stdin has nothing to resume"
    );

    let glob = format!("{}/logs/**/*.gz", lake.display());
    let counted = python_json(
        "import duckdb, json, sys\nprint(json.dumps(duckdb.sql(f\"select count(*) from read_json_auto('{sys.argv[1]}')\").fetchone()[0]))",
        &[&glob],
    );
    assert_eq!(counted, 2000);
}

/// gzip on stdin is recognised by its magic bytes, as it is in a file.
#[test]
fn gzip_on_stdin_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let config = dir.path().join("gz.toml");
    std::fs::write(
        &config,
        format!(
            r#"
name = "gz"
[source]
type = "file"
path = "-"
[destination]
type = "local"
path = {lake:?}
prefix = "logs/"
[destination.format]
type = "ndjson"
"#
        ),
    )
    .unwrap();
    let input = gen_events("logs", 500, 6, "2024-05-01T00:00:00");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&input).unwrap();
    let out = run_with_stdin(&config, &gz.finish().unwrap());
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("delivered 500 ") && summary.contains("dead-lettered 0"),
        "{summary}"
    );
    let delivered: usize = files_under(&lake.join("logs"), "")
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count())
        .sum();
    assert_eq!(delivered, 500);
}
