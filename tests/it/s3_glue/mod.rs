//! The S3 + Glue destination against moto (a real S3 and Glue API implementation): the
//! shipped example delivers the sample events as Parquet objects under Hive partitions,
//! registers exactly those partitions in Glue, and the objects read back with DuckDB and
//! pyarrow using the Glue column types. Faults come from the fault proxy in front of moto.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::aws::*;
use crate::support::fault_proxy::{FaultProxy, Plan};
use crate::support::*;
use serde_json::Value;
use spillway_sinks::dead_letter::ErrorRecord;

mod catalog;
mod faults;

/// `spillway run` of `config` against `endpoint`, with per-test names in the environment.
fn spillway_s3(
    config: &Path,
    endpoint: &str,
    bucket: &str,
    database: &str,
    state: &Path,
) -> Command {
    let mut cmd = spillway();
    cmd.args(["run", "--config"]).arg(config);
    aws_env(&mut cmd, endpoint);
    cmd.env("SPILLWAY_BUCKET", bucket)
        .env("SPILLWAY_GLUE_DATABASE", database)
        .env("SPILLWAY_CHECKPOINT_DIR", state)
        .env("SPILLWAY_LAKE", state.join("lake"));
    cmd
}

fn example() -> std::path::PathBuf {
    repo_root().join("examples/s3-glue.toml")
}

#[tokio::test(flavor = "multi_thread")]
async fn example_delivers_parquet_to_s3_and_registers_exactly_its_partitions_in_glue() {
    let moto = moto_url();
    let (s3, glue) = (s3(&moto).await, glue(&moto).await);
    let bucket = unique_name("spillway-example");
    let database = unique_name("db").replace('-', "_");
    create_bucket(&s3, &bucket).await;
    let state = tempfile::tempdir().unwrap();

    let out = run_ok(&mut spillway_s3(
        &example(),
        &moto,
        &bucket,
        &database,
        state.path(),
    ));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("delivered 5000"), "{summary}");
    assert!(
        summary.contains(&format!("s3://{bucket}/events/")),
        "{summary}"
    );

    // Objects under the expected keys.
    let keys = list_keys(&s3, &bucket, "events/").await;
    assert!(!keys.is_empty());
    let mut folders = BTreeSet::new();
    for key in &keys {
        let (folder, name) = key.rsplit_once('/').unwrap();
        assert!(
            name.starts_with("clickstream-1-") && name.ends_with(".parquet"),
            "{key}"
        );
        let parts: Vec<&str> = folder.split('/').collect();
        assert!(
            parts.len() == 3 && parts[1].starts_with("dt=") && parts[2].starts_with("hour="),
            "{key}"
        );
        folders.insert(folder.to_string());
    }

    // Glue: exactly the partitions written, with their locations.
    let partitions = glue
        .get_partitions()
        .database_name(&database)
        .table_name("events")
        .send()
        .await
        .unwrap();
    let registered: BTreeSet<String> = partitions
        .partitions()
        .iter()
        .map(|p| {
            let values = p.values();
            let location = p.storage_descriptor().unwrap().location().unwrap();
            let folder = format!("events/dt={}/hour={}", values[0], values[1]);
            assert_eq!(location, format!("s3://{bucket}/{folder}/"));
            folder
        })
        .collect();
    assert_eq!(registered, folders);

    // Glue table columns == the Parquet schema of the files.
    let table = glue
        .get_table()
        .database_name(&database)
        .name("events")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let sd = table.storage_descriptor().unwrap();
    assert_eq!(
        sd.serde_info().unwrap().serialization_library(),
        Some("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
    );
    assert_eq!(
        sd.location(),
        Some(format!("s3://{bucket}/events/").as_str())
    );
    assert_eq!(
        table
            .parameters()
            .unwrap()
            .get("classification")
            .map(String::as_str),
        Some("parquet")
    );
    let glue_columns: Vec<(String, String)> = sd
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.r#type().unwrap().to_string()))
        .collect();
    let keys_of_table: Vec<&str> = table.partition_keys().iter().map(|k| k.name()).collect();
    assert_eq!(keys_of_table, ["dt", "hour"]);

    let local = tempfile::tempdir().unwrap();
    download(&s3, &bucket, "events/", local.path()).await;
    for file in files_under(local.path(), ".parquet") {
        assert_eq!(hive_columns(&file), glue_columns, "{}", file.display());
    }

    // DuckDB and pyarrow read the downloaded objects with the Glue column types.
    let glue_json = serde_json::to_string(&glue_columns).unwrap();
    let root = local.path().join("events");
    let result = python_json(
        r#"
import duckdb, json, sys, glob
import pyarrow.parquet as pq
root, glue = sys.argv[1], json.loads(sys.argv[2])
files = sorted(glob.glob(root + "/**/*.parquet", recursive=True))
duck = duckdb.sql(f"select count(*) from read_parquet('{root}/**/*.parquet', hive_partitioning=true)").fetchone()[0]
hive = {"string": "string", "timestamp[ms]": "timestamp", "int32": "int", "double": "double", "int64": "bigint"}
def hive_type(t):
    import pyarrow as pa
    if pa.types.is_struct(t):
        return "struct<" + ",".join(f"{f.name}:{hive_type(f.type)}" for f in t) + ">"
    return hive[str(t)]
rows, mismatches = 0, []
for f in files:
    table = pq.read_table(f)
    rows += table.num_rows
    for (name, glue_type) in glue:
        if hive_type(table.schema.field(name).type) != glue_type:
            mismatches.append([f, name, str(table.schema.field(name).type), glue_type])
print(json.dumps({"duckdb": duck, "pyarrow": rows, "mismatches": mismatches}))
"#,
        &[root.to_str().unwrap(), &glue_json],
    );
    assert_eq!(result["duckdb"], 5000);
    assert_eq!(result["pyarrow"], 5000);
    assert_eq!(result["mismatches"], serde_json::json!([]));

    // Dead letters and the raw backup are in the bucket too.
    let errors = list_keys(&s3, &bucket, "errors/").await;
    let kinds: BTreeSet<&str> = errors
        .iter()
        .map(|k| k.split('/').nth(1).unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["format-conversion-failed", "processing-failed"])
    );
    let backup = list_keys(&s3, &bucket, "backup/").await;
    let mut backed_up = 0;
    for key in &backup {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&get_object(&s3, &bucket, key).await[..]),
            &mut text,
        )
        .unwrap();
        backed_up += text.lines().count();
    }
    // Every record that passed decoding is backed up (5000 good ones and the one that failed
    // format conversion); the three that failed decoding are in the dead letter, raw.
    assert_eq!(backed_up, 5001);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_bucket_is_a_clear_startup_error() {
    let moto = moto_url();
    let state = tempfile::tempdir().unwrap();
    let out = spillway_s3(
        &example(),
        &moto,
        "no-such-bucket-here",
        "db_x",
        state.path(),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("destination.bucket: bucket no-such-bucket-here does not exist"),
        "{stderr}"
    );
}

/// A config for fault tests: the sample events, small buffers, a short retry budget.
fn fault_config(dir: &Path, input: &Path, bucket: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("fault.toml");
    let text = format!(
        r#"
name = "clickstream"
[source]
type = "file"
path = "{input}"
checkpoint_file = "{dir}/checkpoint.json"
[processing]
time_field = ".ts"
[destination]
type = "s3"
bucket = "{bucket}"
prefix = "events/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/"
retry_duration = "60s"
{extra}
[destination.buffering]
size = "1 MiB"
interval = "1s"
[destination.format]
type = "ndjson"
compression = "gzip"
"#,
        input = input.display(),
        dir = dir.display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn delivered_event_ids(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for key in list_keys(s3, bucket, "events/").await {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&get_object(s3, bucket, &key).await[..]),
            &mut text,
        )
        .unwrap();
        ids.extend(text.lines().map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    ids
}

/// Writes `count` generated clickstream events to `dir`; returns the file and the event ids.
fn events_file(dir: &Path, count: usize, seed: u64) -> (std::path::PathBuf, Vec<String>) {
    let input = gen_events("clickstream", count, seed, "2024-05-01T00:00:00");
    let path = dir.join("events.ndjson");
    std::fs::write(&path, &input).unwrap();
    let ids = ndjson_field(&input, "event_id");
    (path, ids)
}

fn ids_in_dead_letter(
    letters: &[(String, spillway_sinks::dead_letter::ErrorRecord)],
) -> Vec<String> {
    letters
        .iter()
        .map(|(_, r)| event_id_of(&r.raw_bytes().unwrap()).unwrap())
        .collect()
}

/// The dead letters in an S3 bucket, read through a fresh download.
async fn dead_letters_in(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, ErrorRecord)> {
    let dir = tempfile::tempdir().unwrap();
    download(s3, bucket, "", dir.path()).await;
    dead_letters(dir.path())
}
