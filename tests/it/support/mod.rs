//! Shared test tooling: run the `spillway` binary, generate events with the project's own
//! generator (`spillway-gen`), read a lake back (Parquet through the `parquet` crate, dead letters as
//! Firehose error records, DuckDB through the test venv's Python), and a ledger that counts
//! every input record as delivered, dead-lettered, missing or duplicated.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use spillway_sinks::dead_letter::ErrorRecord;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `spillway` binary built for these tests.
pub fn spillway() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spillway"));
    cmd.current_dir(repo_root()).env("RUST_LOG", "warn");
    cmd
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spillway starts");
    assert!(
        out.status.success(),
        "spillway failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Sends SIGTERM to a running `spillway` and waits (up to 60 s) for it to exit; returns its
/// output. A graceful stop must exit 0.
pub fn terminate(mut child: std::process::Child) -> Output {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no graceful stop within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "graceful stop exits 0 ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Deterministic NDJSON events from the project's generator (`gen/`).
pub fn gen_events(kind: &str, count: usize, seed: u64, start: &str) -> Vec<u8> {
    spillway_gen::events(&spillway_gen::Options {
        kind: kind.parse().expect("a known kind"),
        count,
        seed,
        start: start.parse().expect("a start such as 2024-05-01T00:00:00"),
    })
}

/// The string value of `field` in every line of NDJSON `input`.
pub fn ndjson_field(input: &[u8], field: &str) -> Vec<String> {
    input
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()[field]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// A Parquet file's columns as (name, Hive type), as a catalog would list them.
pub fn hive_columns(file: &Path) -> Vec<(String, String)> {
    let batches = read_parquet(file);
    batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| {
            (
                f.name().clone(),
                spillway_formats::schema::hive_type_name(f.data_type()).unwrap(),
            )
        })
        .collect()
}

/// Every file under `dir` whose name ends with `suffix`, sorted.
pub fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The values of a string column in every Parquet file under `dir`.
pub fn parquet_strings(dir: &Path, column: &str) -> Vec<String> {
    let mut values = Vec::new();
    for file in files_under(dir, ".parquet") {
        for batch in read_parquet(&file) {
            let array = batch
                .column_by_name(column)
                .unwrap_or_else(|| panic!("no column {column}"));
            let strings = array.as_string::<i32>();
            values.extend((0..strings.len()).map(|i| strings.value(i).to_string()));
        }
    }
    values
}

/// Dead-letter records under `dir`, with their error-output type (the folder below `errors/`).
pub fn dead_letters(dir: &Path) -> Vec<(String, ErrorRecord)> {
    let mut out = Vec::new();
    for file in files_under(&dir.join("errors"), ".json") {
        let kind = file
            .strip_prefix(dir.join("errors"))
            .unwrap()
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .to_string();
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            out.push((kind.clone(), serde_json::from_str(line).unwrap()));
        }
    }
    out
}

/// Pulls `"event_id":"…"` out of raw record bytes (valid JSON or not).
pub fn event_id_of(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let after_key = &text[text.find("\"event_id\"")? + "\"event_id\"".len()..];
    let value = after_key
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

/// Every input record, counted against what the destination and the dead letter hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub input: usize,
    pub delivered: usize,
    pub dead_lettered: usize,
    pub missing: usize,
    /// Extra copies beyond the first (in the lake or the dead letter).
    pub duplicated: usize,
}

impl Ledger {
    pub fn count(
        input_ids: &[String],
        delivered_ids: &[String],
        dead_letter_ids: &[String],
    ) -> Ledger {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for id in delivered_ids.iter().chain(dead_letter_ids) {
            *seen.entry(id.as_str()).or_default() += 1;
        }
        let missing = input_ids
            .iter()
            .filter(|id| !seen.contains_key(id.as_str()))
            .count();
        let duplicated = seen.values().map(|n| n - 1).sum();
        Ledger {
            input: input_ids.len(),
            delivered: delivered_ids.len(),
            dead_lettered: dead_letter_ids.len(),
            missing,
            duplicated,
        }
    }

    pub fn line(&self, scenario: &str) -> String {
        format!(
            "ledger[{scenario}]: input={} delivered={} dead-lettered={} missing={} duplicated={}",
            self.input, self.delivered, self.dead_lettered, self.missing, self.duplicated
        )
    }
}

/// The Python of the test venv (with duckdb and pyarrow), set up by `scripts/test`.
pub fn python() -> Command {
    let python = std::env::var("SPILLWAY_PYTHON").unwrap_or_else(|_| {
        panic!("SPILLWAY_PYTHON is not set: run the suite with scripts/test, which installs DuckDB and pyarrow")
    });
    Command::new(python)
}

/// Runs a Python snippet that prints one JSON document; returns it.
pub fn python_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = python()
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON from python ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Counts by key of a JSON-lines input, e.g. expected rows per partition.
pub fn tally<K: Ord>(keys: impl Iterator<Item = K>) -> BTreeMap<K, usize> {
    let mut out = BTreeMap::new();
    for k in keys {
        *out.entry(k).or_default() += 1;
    }
    out
}

pub mod aws;
pub mod fault_proxy;
pub mod tls_proxy;
