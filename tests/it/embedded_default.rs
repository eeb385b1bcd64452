//! The README's main job, end to end: `spillway run --config config.example.toml` on the
//! shipped sample events → a local lake of Hive-partitioned Parquet, a Glue-style catalog,
//! and a dead letter. Read back with the `parquet` crate and with DuckDB.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use crate::support::*;
use serde_json::Value;

/// The sample input: every line of the shipped example files.
fn sample_lines() -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for name in ["bad-records.ndjson.gz", "events.ndjson.gz"] {
        let file =
            std::fs::File::open(repo_root().join("examples/clickstream").join(name)).unwrap();
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(file)
            .read_to_end(&mut text)
            .unwrap();
        lines.extend(
            text.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(<[u8]>::to_vec),
        );
    }
    lines
}

fn run_example(lake: &Path) -> String {
    let out = run_ok(
        spillway()
            .args(["run", "--config", "config.example.toml"])
            .env("SPILLWAY_LAKE", lake),
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn example_run_delivers_every_good_record_and_dead_letters_the_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let summary = run_example(&lake);
    assert!(summary.contains("delivered 5000 in"), "{summary}");
    assert!(summary.contains("dead-lettered 4"), "{summary}");
    assert!(summary.contains("duckdb -c"), "{summary}");

    // Expected rows per Hive partition, from the good records' event time.
    let good: Vec<Value> = sample_lines()
        .iter()
        .filter_map(|l| serde_json::from_slice::<Value>(l).ok())
        .filter(|v| {
            v["event_id"]
                .as_str()
                .is_some_and(|id| !id.starts_with("bad-"))
        })
        .collect();
    assert_eq!(good.len(), 5000);
    let expected = tally(good.iter().map(|v| {
        let ts = v["ts"].as_str().unwrap();
        format!("dt={}/hour={}", &ts[..10], &ts[11..13])
    }));
    let mut found = BTreeMap::new();
    for file in files_under(&lake.join("events"), ".parquet") {
        let rel = file.strip_prefix(lake.join("events")).unwrap();
        let partition = rel.parent().unwrap().to_string_lossy().to_string();
        let name = rel.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.starts_with("clickstream-1-") && name.ends_with(".parquet"),
            "{name}"
        );
        let rows: usize = read_parquet(&file).iter().map(|b| b.num_rows()).sum();
        *found.entry(partition).or_insert(0) += rows;
    }
    assert_eq!(found, expected);

    // Every good event id exactly once.
    let mut delivered = parquet_strings(&lake.join("events"), "event_id");
    delivered.sort();
    let mut wanted: Vec<String> = good
        .iter()
        .map(|v| v["event_id"].as_str().unwrap().to_string())
        .collect();
    wanted.sort();
    assert_eq!(delivered, wanted);
}

#[test]
fn bad_records_land_in_the_dead_letter_with_their_reason_and_original_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    run_example(&lake);
    let originals: BTreeMap<String, Vec<u8>> = sample_lines()
        .into_iter()
        .filter_map(|l| {
            event_id_of(&l)
                .filter(|id| id.starts_with("bad-"))
                .map(|id| (id, l))
        })
        .collect();
    let mut seen = BTreeMap::new();
    for (kind, record) in dead_letters(&lake) {
        let raw = record.raw_bytes().unwrap();
        let id = event_id_of(&raw).unwrap();
        assert_eq!(
            raw, originals[&id],
            "dead letter of {id} keeps the original bytes"
        );
        assert!(record.shard_id.ends_with("bad-records.ndjson.gz"));
        seen.insert(id, (kind, record.error_code, record.error_message));
    }
    let expect = [
        (
            "bad-1",
            "processing-failed",
            "Decode.InvalidJson",
            "not valid JSON",
        ),
        (
            "bad-2",
            "processing-failed",
            "Decode.RecordTooLarge",
            "above the 1048576-byte maximum",
        ),
        (
            "bad-3",
            "format-conversion-failed",
            "Format.SchemaMismatch",
            "user_id",
        ),
        (
            "bad-4",
            "processing-failed",
            "Decode.MissingField",
            "field .ts is missing",
        ),
    ];
    assert_eq!(seen.len(), expect.len(), "{seen:?}");
    for (id, kind, code, message) in expect {
        let (k, c, m) = &seen[id];
        assert_eq!((k.as_str(), c.as_str()), (kind, code), "{id}");
        assert!(m.contains(message), "{id}: {m}");
    }
}

#[test]
fn catalog_describes_exactly_the_files_written() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    run_example(&lake);
    let dir = lake.join("_catalog/spillway/events");
    let table: Value =
        serde_json::from_slice(&std::fs::read(dir.join("table.json")).unwrap()).unwrap();
    let sd = &table["StorageDescriptor"];
    assert_eq!(
        sd["SerdeInfo"]["SerializationLibrary"],
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    );
    assert!(sd["Location"].as_str().unwrap().ends_with("/lake/events/"));
    let keys: Vec<&str> = table["PartitionKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["Name"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["dt", "hour"]);

    // Columns match every file's Parquet schema, name and Hive type.
    let catalog_columns: Vec<(String, String)> = sd["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Name"].as_str().unwrap().to_string(),
                c["Type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let files = files_under(&lake.join("events"), ".parquet");
    for file in &files {
        assert_eq!(hive_columns(file), catalog_columns, "{}", file.display());
    }
    assert!(catalog_columns.contains(&("ts".into(), "timestamp".into())));

    // One partition document per partition folder, with its values and location.
    let partitions = files_under(&dir.join("partitions"), ".json");
    let folders: std::collections::BTreeSet<_> = files
        .iter()
        .map(|f| f.parent().unwrap().to_path_buf())
        .collect();
    assert_eq!(partitions.len(), folders.len());
    for doc in partitions {
        let p: Value = serde_json::from_slice(&std::fs::read(doc).unwrap()).unwrap();
        let values: Vec<&str> = p["Values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let location = p["StorageDescriptor"]["Location"].as_str().unwrap();
        assert!(
            location.ends_with(&format!("/events/dt={}/hour={}/", values[0], values[1])),
            "{location}"
        );
    }
    let ddl = std::fs::read_to_string(dir.join("create_table.sql")).unwrap();
    assert!(
        ddl.contains("PARTITIONED BY (`dt` string, `hour` string)")
            && ddl.contains("STORED AS PARQUET")
    );
}

#[test]
fn duckdb_reads_the_lake_with_hive_partitioning() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    run_example(&lake);
    let glob = format!("{}/events/**/*.parquet", lake.display());
    let result = python_json(
        r#"
import duckdb, json, sys
con = duckdb.connect()
rel = f"read_parquet('{sys.argv[1]}', hive_partitioning=true)"
total = con.execute(f"select count(*) from {rel}").fetchone()[0]
parts = con.execute(f"select dt::varchar || '/' || hour::varchar, count(*) from {rel} group by 1 order by 1").fetchall()
row = con.execute(f"select user_id, geo.country, props.device, strftime(ts, '%Y-%m-%dT%H:%M:%S.%g') from {rel} where event_id = ?", [sys.argv[2]]).fetchone()
kind = con.execute(f"select typeof(ts) from {rel} limit 1").fetchone()[0]
print(json.dumps({"total": total, "parts": {p: n for p, n in parts}, "row": list(row), "ts_type": kind}))
"#,
        &[&glob, "55a657d6-d6ee-4c6d-3dbd-6c84d3386310"],
    );
    assert_eq!(result["total"], 5000);
    assert_eq!(result["ts_type"], "TIMESTAMP");
    let first = sample_lines()
        .into_iter()
        .filter_map(|l| serde_json::from_slice::<Value>(&l).ok())
        .find(|v| v["event_id"] == "55a657d6-d6ee-4c6d-3dbd-6c84d3386310")
        .unwrap();
    let ts = first["ts"].as_str().unwrap().trim_end_matches('Z');
    assert_eq!(
        result["row"],
        serde_json::json!([
            first["user_id"],
            first["geo"]["country"],
            first["props"]["device"],
            ts
        ])
    );
    let parts = result["parts"].as_object().unwrap();
    assert_eq!(
        parts.values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        5000
    );
    assert!(
        parts.contains_key("2024-05-01/0") || parts.contains_key("2024-05-01/00"),
        "{parts:?}"
    );
}

#[test]
fn a_rerun_resumes_from_the_checkpoint_and_delivers_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    run_example(&lake);
    let summary = run_example(&lake);
    assert!(summary.contains("read 0 records"), "{summary}");
    assert!(summary.contains("resumed:"), "{summary}");
    assert_eq!(
        parquet_strings(&lake.join("events"), "event_id").len(),
        5000
    );
    assert_eq!(dead_letters(&lake).len(), 4);
}

/// The repository stands alone: nothing it builds, runs or tests reads a file beside it (a
/// user's clone has nothing there); the test data comes from the project's own generator.
#[test]
fn nothing_in_the_repository_reads_files_outside_it() {
    // The folder beside the repository that the steering documents live in.
    let outside = ["..", "shared"].join("/");
    let mut offenders = Vec::new();
    let mut stack = vec![repo_root()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), ".git" | "target" | ".testbed" | "lake") {
                    stack.push(path);
                }
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                if text.contains(&outside) {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "files that reach outside the repository: {offenders:?}"
    );
}
