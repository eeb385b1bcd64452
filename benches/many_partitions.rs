//! The many-partitions benchmark (issue 19): dynamic partitioning by a field with thousands of
//! values, the way a user tries it. 500,000 log records (the generator's `logs`, ~330 B a
//! line) with a field `k` of 5,000 (then 50,000) values interleaved at random;
//! `prefix = "t/k=!{partitionKeyFromQuery:k}/"`, Parquet, buffering 64 MiB / 60 s,
//! `memory_budget = "256 MiB"`, everything else default — into a local lake with its catalog.
//! Beside it, DuckDB's `COPY … PARTITION_BY (k)` with `SET threads=2` (benches/duckdb_copy.py,
//! job `logs-by-key-parquet`). Runs are interleaved in one sitting; the table gives medians of
//! wall time, CPU time and peak RSS, and the objects each wrote.
//!
//! Run: `cargo bench --bench many_partitions`. Python with duckdb comes from
//! `$SPILLWAY_PYTHON` (the testbed's venv) or `python3`. Optional: `SPILLWAY_BENCH_RUNS=3`,
//! `SPILLWAY_BENCH_RECORDS=500000`, `SPILLWAY_BENCH_KEYS=5000,50000`, and
//! `SPILLWAY_BENCH_BEFORE=/path/to/an/older/spillway` to add that binary's runs.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::process::{duckdb, env_or, measured, median, target_dir, Measure};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--list") {
        // `cargo test --all-targets` runs bench targets without `--bench` (and `cargo bench
        // -- --list` asks for test names): nothing to time.
        println!("many_partitions: a benchmark; run it with `cargo bench --bench many_partitions`");
        return;
    }
    let runs: usize = env_or("SPILLWAY_BENCH_RUNS", 3);
    let records: usize = env_or("SPILLWAY_BENCH_RECORDS", 500_000);
    let keys: Vec<usize> = std::env::var("SPILLWAY_BENCH_KEYS")
        .unwrap_or_else(|_| "5000,50000".into())
        .split(',')
        .filter_map(|k| k.trim().parse().ok())
        .collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = target_dir().join("bench-many-partitions");
    std::fs::create_dir_all(&work).expect("a work folder in the target folder");
    let now = PathBuf::from(env!("CARGO_BIN_EXE_spillway"));
    let before = std::env::var_os("SPILLWAY_BENCH_BEFORE").map(PathBuf::from);
    println!("| keys | run | wall (median) | CPU | peak RSS | objects |");
    println!("| ---: | --- | ---: | ---: | ---: | ---: |");
    for &key_count in &keys {
        let input = input_file(&work, records, key_count);
        let config = work.join("by-key.toml");
        std::fs::write(&config, config_text(&input, &work)).expect("write the config");
        let mut table: Vec<(&str, Vec<(Measure, u64)>)> = vec![
            ("spillway run", Vec::new()),
            ("duckdb COPY … PARTITION_BY (k), threads=2", Vec::new()),
        ];
        if before.is_some() {
            table.push(("before: spillway run", Vec::new()));
        }
        let mut duckdb_failed = None;
        for _ in 0..runs {
            table[0].1.push(spillway(&now, &config, &work));
            let out = work.join("duckdb-out");
            match duckdb(&root, "logs-by-key-parquet", 2, &input, &out) {
                Ok(measure) => table[1].1.push(measure),
                Err(error) => duckdb_failed = Some(error),
            }
            let _ = std::fs::remove_dir_all(&out);
            if let Some(before) = &before {
                table[2].1.push(spillway(before, &config, &work));
            }
        }
        let mut walls = Vec::new();
        for (name, measures) in &table {
            if measures.is_empty() {
                let error = duckdb_failed.as_deref().unwrap_or("no run");
                println!("| {key_count} | {name} | failed: {error} | | | |");
                walls.push(f64::NAN);
                continue;
            }
            let m = median(&measures.iter().map(|(m, _)| *m).collect::<Vec<_>>());
            let objects = measures.iter().map(|(_, o)| *o).max().unwrap_or(0);
            walls.push(m.wall);
            println!(
                "| {key_count} | {name} | {:.2} s | {:.2} s | {:.0} MiB | {objects} |",
                m.wall, m.cpu, m.peak_rss_mib
            );
        }
        println!(
            "| {key_count} | spillway vs duckdb | {:.2}x | | | |",
            walls[1] / walls[0]
        );
    }
}

/// `records` of the generator's logs (seed 1), each with `"k"` first: one of `keys` values,
/// drawn at random; generated on first use.
fn input_file(work: &Path, records: usize, keys: usize) -> PathBuf {
    let path = work.join(format!("logs-{records}-k{keys}.ndjson"));
    if path.exists() {
        return path;
    }
    let mut options = spillway_gen::Options::new(spillway_gen::Kind::Logs, records);
    options.seed = 1;
    let mut lines = Vec::new();
    spillway_gen::write_events(&options, &mut lines).expect("generate");
    let tmp = path.with_extension("partial");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create input"));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for line in lines.split(|&b| b == b'\n').filter(|l| l.len() > 1) {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = (state >> 33) as usize % keys;
        write!(out, "{{\"k\":\"k{key:05}\",").expect("write input");
        out.write_all(&line[1..]).expect("write input");
        out.write_all(b"\n").expect("write input");
    }
    drop(out);
    std::fs::rename(&tmp, &path).expect("publish input");
    path
}

fn config_text(input: &Path, work: &Path) -> String {
    format!(
        r#"name = "by-key"
[source]
type = "file"
path = "{input}"
checkpoint_file = "{work}/checkpoint.json"
[processing]
partition_keys = {{ k = ".k" }}
[destination]
type = "local"
path = "{work}/lake"
prefix = "t/k=!{{partitionKeyFromQuery:k}}/"
[destination.buffering]
size = "64 MiB"
interval = "60s"
memory_budget = "256 MiB"
[destination.format]
type = "parquet"
[destination.format.schema]
columns = [
  {{ name = "k", type = "string" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "level", type = "string" }},
  {{ name = "service", type = "string" }},
  {{ name = "host", type = "string" }},
  {{ name = "region", type = "string" }},
  {{ name = "message", type = "string" }},
  {{ name = "trace_id", type = "string" }},
  {{ name = "span_id", type = "string" }},
  {{ name = "latency_ms", type = "int" }},
  {{ name = "status_code", type = "int" }},
]
[destination.catalog]
type = "local"
database = "bench"
table = "by_key"
[dead_letter]
type = "local"
path = "{work}/dead"
"#,
        input = input.display(),
        work = work.display(),
    )
}

/// One run into a fresh lake: its measure and the data objects it wrote.
fn spillway(binary: &Path, config: &Path, work: &Path) -> (Measure, u64) {
    for dir in ["lake", "dead"] {
        let _ = std::fs::remove_dir_all(work.join(dir));
    }
    let _ = std::fs::remove_file(work.join("checkpoint.json"));
    let mut command = Command::new(binary);
    command.args(["run", "--config"]).arg(config);
    let (measure, ok) = measured(command);
    assert!(ok, "spillway run failed");
    (measure, count_files(&work.join("lake/t"), "parquet"))
}

fn count_files(dir: &Path, extension: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                count_files(&path, extension)
            } else {
                u64::from(path.extension().is_some_and(|e| e == extension))
            }
        })
        .sum()
}
