//! Firehose's documented behaviour, end to end through `spillway run`: timestamps in any form
//! Firehose accepts land in the column and the partition alike, values that would change are
//! refused with their reason (format-conversion error records in Firehose's field names),
//! objects are named and extended as Firehose names them, in the configured time zone, and
//! the catalog DDL never lists a name twice.

use std::path::{Path, PathBuf};

use crate::support::*;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn timestamps_in_every_accepted_form_land_in_the_column_and_the_partition_alike() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "in.ndjson",
        concat!(
            "{\"id\":1,\"n\":1,\"ts\":1714557600}\n",
            "{\"id\":2,\"n\":2,\"ts\":\"2017-2-7 15:13:01.14\"}\n",
            "{\"id\":3,\"n\":3,\"ts\":1518033528123}\n",
            "{\"id\":4,\"n\":4,\"ts\":1518033528.123}\n",
            "{\"id\":5,\"n\":5.0,\"ts\":\"2018-02-07T21:58:48+02:00\"}\n",
            "{\"id\":6,\"n\":1.5,\"ts\":1714557600}\n",
            "{\"id\":7,\"n\":7,\"x\":1e400,\"ts\":1714557600}\n",
            "{\"id\":8,\"n\":123456789012345678901234567890,\"ts\":1714557600}\n",
        ),
    );
    let lake = dir.path().join("lake");
    let config = write(
        dir.path(),
        "c.toml",
        &format!(
            r#"
name = "fidelity"
[source]
type = "file"
path = {input:?}
[processing]
time_field = ".ts"
[destination]
type = "local"
path = {lake:?}
prefix = "t/dt=!{{timestamp:yyyy-MM-dd}}/"
[destination.format]
type = "parquet"
[destination.format.schema]
columns = [
  {{ name = "id", type = "bigint" }},
  {{ name = "n", type = "bigint" }},
  {{ name = "x", type = "double" }},
  {{ name = "ts", type = "timestamp" }},
]
[destination.catalog]
database = "db"
table = "fidelity"
"#
        ),
    );
    run_ok(spillway().args(["run", "--config"]).arg(&config));

    let mut rows = Vec::new();
    for file in files_under(&lake.join("t"), ".parquet") {
        let dt = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for batch in read_parquet(&file) {
            let ids = batch
                .column_by_name("id")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            let ts = batch
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>()
                .clone();
            for i in 0..batch.num_rows() {
                rows.push((ids.value(i), ts.value(i), dt.clone()));
            }
        }
    }
    rows.sort();
    let at = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .timestamp_millis()
    };
    let want = [
        (1, at("2024-05-01T10:00:00Z"), "dt=2024-05-01"),
        (2, at("2017-02-07T15:13:01.140Z"), "dt=2017-02-07"),
        (3, at("2018-02-07T19:58:48.123Z"), "dt=2018-02-07"),
        (4, at("2018-02-07T19:58:48.123Z"), "dt=2018-02-07"),
        (5, at("2018-02-07T19:58:48Z"), "dt=2018-02-07"),
    ];
    let want: Vec<(i64, i64, String)> = want
        .iter()
        .map(|(i, t, d)| (*i, *t, d.to_string()))
        .collect();
    assert_eq!(rows, want, "the column and its partition agree");

    // The three values that would change are refused, each with the field and the reason,
    // in Firehose's format-conversion error record.
    let mut letters: Vec<(String, ErrorView)> = dead_letter_docs(&lake);
    letters.sort_by_key(|(_, doc)| doc.id);
    let reasons: Vec<(i64, &str)> = letters
        .iter()
        .map(|(kind, doc)| {
            assert_eq!(kind, "format-conversion-failed");
            (doc.id, doc.message.as_str())
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0]
            .1
            .contains("field n (bigint): 1.5 is not an integer"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].1.contains("is beyond the range of double"),
        "{reasons:?}"
    );
    assert!(
        reasons[2]
            .1
            .contains("123456789012345678901234567890 is beyond the range of bigint"),
        "{reasons:?}"
    );
    for (_, doc) in &letters {
        assert_eq!(doc.raw["dataCatalogTable"]["databaseName"], "db");
        assert_eq!(doc.raw["dataCatalogTable"]["tableName"], "fidelity");
        assert!(doc.raw.get("subSequenceNumber").is_some());
        assert!(doc.raw.get("lastErrorCode").is_some() && doc.raw.get("errorCode").is_none());
    }
}

/// A dead-letter line: its record's id, its message and the whole document.
struct ErrorView {
    id: i64,
    message: String,
    raw: Value,
}

fn dead_letter_docs(lake: &Path) -> Vec<(String, ErrorView)> {
    dead_letters(lake)
        .into_iter()
        .map(|(kind, record)| {
            let raw_record: Value = serde_json::from_slice(&record.raw_bytes().unwrap()).unwrap();
            let file_docs = files_under(&lake.join("errors"), ".json");
            let doc = file_docs
                .iter()
                .flat_map(|f| {
                    std::fs::read_to_string(f)
                        .unwrap()
                        .lines()
                        .map(|l| serde_json::from_str::<Value>(l).unwrap())
                        .collect::<Vec<_>>()
                })
                .find(|d| d["rawData"] == record.raw_data.as_str())
                .unwrap();
            let view = ErrorView {
                id: raw_record["id"].as_i64().unwrap(),
                message: record.error_message.clone(),
                raw: doc,
            };
            (kind, view)
        })
        .collect()
}

#[test]
fn objects_are_named_and_extended_as_firehose_names_them_in_the_configured_zone() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "in.ndjson", "{\"a\":1}\n{\"a\":2}\n");
    let run = |name: &str, extra: &str| -> Vec<String> {
        let lake = dir.path().join(name);
        let config = write(
            dir.path(),
            &format!("{name}.toml"),
            &format!(
                r#"
name = "{name}"
[source]
type = "file"
path = {input:?}
checkpoint_file = "{lake}.checkpoint.json"
[destination]
type = "local"
path = {lake:?}
prefix = "data"
{extra}
"#,
                lake = lake.display()
            ),
        );
        run_ok(spillway().args(["run", "--config"]).arg(&config));
        files_under(&lake.join("data"), "")
            .iter()
            .map(|f| f.strip_prefix(&lake).unwrap().display().to_string())
            .collect()
    };
    let now = chrono::Utc::now();
    let plain = run("plain", "[destination.format]\ntype = \"ndjson\"");
    assert_eq!(plain.len(), 1);
    // `data` had no timestamp: Firehose's `/yyyy/MM/dd/HH/` was appended after a `/`.
    let hour = now
        .format("data/%Y/%m/%d/%H/plain-1-%Y-%m-%d-%H-")
        .to_string();
    assert!(plain[0].starts_with(&hour), "{plain:?} {hour}");
    assert!(
        !plain[0].ends_with(".json"),
        "no extension for plain NDJSON: {plain:?}"
    );
    let gzip = run(
        "gzip",
        "[destination.format]\ntype = \"ndjson\"\ncompression = \"gzip\"",
    );
    assert!(
        gzip[0].ends_with(".gz") && !gzip[0].ends_with(".json.gz"),
        "{gzip:?}"
    );
    let parquet = run(
        "parquet",
        "[destination.format]\ntype = \"parquet\"\ncompression = \"zstd\"",
    );
    assert!(
        parquet[0].ends_with(".parquet") && !parquet[0].contains("zstd"),
        "{parquet:?}"
    );
    let custom = run(
        "custom",
        "file_extension = \".json\"\n[destination.format]\ntype = \"ndjson\"",
    );
    assert!(custom[0].ends_with(".json"), "{custom:?}");
    let tokyo = run(
        "tokyo",
        "time_zone = \"Asia/Tokyo\"\n[destination.format]\ntype = \"ndjson\"",
    );
    let in_tokyo = now.with_timezone(&chrono_tz::Asia::Tokyo);
    let hour = in_tokyo
        .format("data/%Y/%m/%d/%H/tokyo-1-%Y-%m-%d-%H-")
        .to_string();
    assert!(tokyo[0].starts_with(&hour), "{tokyo:?} {hour}");
}

#[test]
fn validate_refuses_what_run_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let base = r#"
name = "v"
[source]
type = "file"
path = "examples/clickstream"
[destination]
type = "local"
path = "lake"
"#;
    let cases = [
        (
            format!(
                "{base}[destination.catalog]\ntype = \"glue\"\ndatabase = \"d\"\ntable = \"t\"\n"
            ),
            "destination.catalog.type: \"glue\" needs an S3 destination",
        ),
        (
            base.replace(
                "path = \"lake\"",
                "path = \"lake\"\ntime_zone = \"Mars/Olympus\"",
            ),
            "destination.time_zone: unknown time zone `Mars/Olympus`",
        ),
        (
            base.replace(
                "path = \"lake\"",
                "path = \"lake\"\nfile_extension = \"json\"",
            ),
            "destination.file_extension: \"json\" is not a file extension Firehose accepts",
        ),
        (
            base.replace(
                "path = \"lake\"",
                "path = \"lake\"\nprefix = \"!{timestamp:yyyy-bb}/\"",
            ),
            "unknown pattern letter 'b'",
        ),
        (
            format!("{base}[destination.buffering]\nsize = \"MiB\"\n"),
            "expected a number and a unit, such as \"64 MiB\"",
        ),
    ];
    for (toml, expected) in cases {
        let path = write(dir.path(), "v.toml", &toml);
        let out = spillway()
            .args(["validate", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{toml}\n{stderr}");
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in {stderr}"
        );
    }
    // --help has a line for every option of every command.
    for command in ["run", "serve", "redrive", "replay", "validate"] {
        let out = spillway().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        // Each option line has its description after it on the same line, or on the next one.
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let option = line.trim_start();
            if !option.starts_with('-') {
                continue;
            }
            let same_line = option
                .split_once("  ")
                .is_some_and(|(_, d)| !d.trim().is_empty());
            let next_line = lines.get(i + 1).is_some_and(|next| {
                let next = next.trim_start();
                !next.is_empty() && !next.starts_with('-')
            });
            assert!(
                same_line || next_line,
                "`{command} --help` has an option without a description: {line}"
            );
        }
    }
}

#[test]
fn the_athena_ddl_lists_a_partition_key_that_is_also_a_field_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(
        dir.path(),
        "in.ndjson",
        "{\"country\":\"DE\",\"select\":\"x\",\"it's\":1}\n",
    );
    let lake = dir.path().join("lake");
    let config = write(
        dir.path(),
        "c.toml",
        &format!(
            r#"
name = "ddl"
[source]
type = "file"
path = {input:?}
[processing]
partition_keys = {{ country = ".country" }}
[destination]
type = "local"
path = {lake:?}
prefix = "t/country=!{{partitionKeyFromQuery:country}}/"
[destination.format]
type = "parquet"
[destination.catalog]
database = "db"
table = "ddl"
"#
        ),
    );
    run_ok(spillway().args(["run", "--config"]).arg(&config));
    let ddl = std::fs::read_to_string(lake.join("_catalog/db/ddl/create_table.sql")).unwrap();
    assert_eq!(ddl.matches("`country`").count(), 1, "{ddl}");
    assert!(ddl.contains("PARTITIONED BY (`country` string)"), "{ddl}");
    assert!(
        ddl.contains("`select` string") && ddl.contains("`it's` bigint"),
        "{ddl}"
    );
}
