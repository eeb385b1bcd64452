//! The conversion benchmark (issue 8): Spillway against pyarrow, DuckDB and pigz, on the same
//! generated input, each pinned to the same single core, in one run; prints one table with
//! MB/s (10^6 input bytes per second), records/s, output bytes, peak RSS and the ratios.
//!
//! | scenario | input | conversion |
//! | --- | --- | --- |
//! | S1 single flush | clickstream, 64 MiB | Parquet zstd(3), `ts` a timestamp |
//! | S2 sustained | clickstream, 1M records, 8 × 64 MiB flushes | as S1; baselines in one pass |
//! | S3 nested | orders, 200k | Parquet zstd(3), `total` decimal(12,2), `items` array<struct> |
//! | S4 NDJSON gzip | logs, 200k | gzip level 6 and 1 (against `pigz -p1`) |
//!
//! Run: `cargo bench --bench convert`. Python with pyarrow and duckdb comes from
//! `$SPILLWAY_PYTHON` (the testbed's venv) or `python3`; pigz from `PATH`. Optional:
//! `SPILLWAY_BENCH_SCENARIOS=S1,S3`, `SPILLWAY_BENCH_RUNS=3` (median of), `SPILLWAY_BENCH_CPU=1`.
//!
//! Each engine runs as its own process (this binary re-run with `--engine-spillway`, or
//! benches/baselines.py), so peak RSS is each one's own. Times are medians; an engine's time
//! covers splitting lines, parsing, building columns, encoding and compressing, with the input
//! already in the page cache and the output kept in memory (DuckDB writes a file).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use common::{batch_of, bench_input, clickstream_schema, meta_at, new_batch, orders_schema};
use serde_json::Value;
use spillway_formats::compression::Codec;
use spillway_formats::encode::{
    Encoder, NdjsonEncoder, ParquetCompression, ParquetEncoder, SchemaSource,
};
use spillway_formats::record::Batch;
use spillway_formats::schema::TableSchema;

/// One flush's worth of input: the buffering size S1 and S2 use.
const FLUSH_BYTES: usize = 64 << 20;
/// Row groups cut at this many encoded bytes: the pipeline's default `row_group_size`.
const ROW_GROUP_BYTES: usize = 32 << 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--engine-spillway") {
        spillway::allocator::keep_freed_memory(); // as the `spillway` binary does
        let (scenario, input, level) = (&args[i + 1], Path::new(&args[i + 2]), &args[i + 3]);
        return spillway_engine(scenario, input, level.parse().unwrap(), runs());
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs bench targets without `--bench`: nothing to time.
        println!("convert: a benchmark; run it with `cargo bench --bench convert`");
        return;
    }
    let wanted = std::env::var("SPILLWAY_BENCH_SCENARIOS").unwrap_or("S1,S2,S3,S4".into());
    let mut rows = Vec::new();
    for (scenario, level) in [("S1", 3), ("S2", 3), ("S3", 3), ("S4", 6), ("S4", 1)] {
        if !wanted.split(',').any(|w| w.trim() == scenario) {
            continue;
        }
        let input = scenario_input(scenario);
        let label = if scenario == "S4" {
            format!("S4 gzip -{level}")
        } else {
            scenario.to_string()
        };
        let ours = measure(
            &label,
            "spillway",
            spillway_command(scenario, &input, level),
        );
        let baselines: &[&str] = if scenario == "S4" {
            &["pigz"]
        } else {
            &["duckdb", "pyarrow"]
        };
        let theirs: Vec<Measured> = baselines
            .iter()
            .map(|engine| {
                measure(
                    &label,
                    engine,
                    baseline_command(engine, scenario, &input, level),
                )
            })
            .collect();
        rows.push((ours, theirs, std::fs::metadata(&input).unwrap().len()));
    }
    print_table(&rows);
}

fn runs() -> usize {
    std::env::var("SPILLWAY_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

fn scenario_input(scenario: &str) -> PathBuf {
    match scenario {
        "S1" => bench_input("clickstream", 140_000, 1, Some(FLUSH_BYTES)),
        "S2" => bench_input("clickstream", 1_000_000, 1, None),
        "S3" => bench_input("orders", 200_000, 3, None),
        _ => bench_input("logs", 200_000, 5, None),
    }
}

/// What one engine did on one scenario, read from the JSON line it printed.
struct Measured {
    label: String,
    engine: String,
    result: Result<Value, String>,
}

impl Measured {
    fn field(&self, name: &str) -> Option<f64> {
        self.result.as_ref().ok()?.get(name)?.as_f64()
    }
}

/// `taskset -c CPU` in front of `program`, when taskset works here.
fn pinned(program: &str) -> Command {
    let cpu = std::env::var("SPILLWAY_BENCH_CPU").unwrap_or_else(|_| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cpus - 1).to_string()
    });
    let taskset_works = Command::new("taskset")
        .args(["-c", &cpu, "true"])
        .status()
        .is_ok_and(|s| s.success());
    if taskset_works {
        let mut command = Command::new("taskset");
        command.args(["-c", &cpu, program]);
        command
    } else {
        eprintln!("taskset is unavailable: engines run unpinned");
        Command::new(program)
    }
}

fn spillway_command(scenario: &str, input: &Path, level: u32) -> Command {
    let me = std::env::current_exe().unwrap();
    let mut command = pinned(me.to_str().unwrap());
    command
        .arg("--engine-spillway")
        .arg(scenario)
        .arg(input)
        .arg(level.to_string());
    command
}

fn baseline_command(engine: &str, scenario: &str, input: &Path, level: u32) -> Command {
    let python = std::env::var("SPILLWAY_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/baselines.py");
    let mut command = pinned(&python);
    command.arg(script).args(["--engine", engine, "--scenario"]);
    command.arg(if scenario == "S4" { "S4" } else { scenario });
    command.arg("--input").arg(input);
    command.args(["--level", &level.to_string(), "--runs", &runs().to_string()]);
    command
}

fn measure(label: &str, engine: &str, mut command: Command) -> Measured {
    eprintln!("{label}: {command:?}");
    let result = match command.output() {
        Err(e) => Err(format!("did not start: {e}")),
        Ok(out) if !out.status.success() => Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("failed")
            .to_string()),
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<Value>(l).ok())
            .ok_or_else(|| "printed no result".to_string()),
    };
    let engine = match &result {
        Ok(v) => v["engine"].as_str().unwrap_or("?").to_string(),
        Err(_) => engine.to_string(),
    };
    Measured {
        label: label.to_string(),
        engine,
        result,
    }
}

fn print_table(rows: &[(Measured, Vec<Measured>, u64)]) {
    println!();
    println!("| scenario | engine | MB/s | records/s | output bytes | peak RSS MiB | Spillway ÷ engine |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (ours, theirs, input_bytes) in rows {
        let rate = |m: &Measured| m.field("seconds").map(|s| *input_bytes as f64 / s / 1e6);
        for m in std::iter::once(ours).chain(theirs) {
            let Some(mb_s) = rate(m) else {
                println!(
                    "| {} | {} | — | — | — | — | {} |",
                    m.label,
                    m.engine,
                    m.result.as_ref().err().map_or("", |e| e.as_str())
                );
                continue;
            };
            let seconds = m.field("seconds").unwrap();
            let ratio = match rate(ours) {
                Some(o) if !std::ptr::eq(m, ours) => format!("{:.2}×", o / mb_s),
                _ => String::new(),
            };
            println!(
                "| {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {} |",
                m.label,
                m.engine,
                mb_s,
                m.field("records").unwrap_or(0.0) / seconds,
                m.field("out_bytes").unwrap_or(0.0),
                m.field("peak_rss_kib").unwrap_or(0.0) / 1024.0,
                ratio
            );
        }
    }
}

/// The Spillway side: runs `scenario` `runs` times in this process and prints its JSON line.
fn spillway_engine(scenario: &str, input: &Path, level: u32, runs: usize) {
    let parquet = |schema: TableSchema| {
        ParquetEncoder::new(
            SchemaSource::Fixed(Arc::new(schema)),
            ParquetCompression::Zstd(3),
            ROW_GROUP_BYTES,
        )
        .unwrap()
    };
    let (encoder, whole_file): (Box<dyn Encoder>, bool) = match scenario {
        "S1" => (Box::new(parquet(clickstream_schema())), true),
        "S2" => (Box::new(parquet(clickstream_schema())), false),
        "S3" => (Box::new(parquet(orders_schema())), true),
        _ => (
            Box::new(NdjsonEncoder {
                codec: Codec::Gzip,
                level: Some(level as i32),
            }),
            true,
        ),
    };
    let data = if whole_file {
        std::fs::read(input).unwrap()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    let mut times = Vec::new();
    let (mut records, mut out_bytes) = (0, 0);
    for _ in 0..runs {
        let start = Instant::now();
        (records, out_bytes) = if whole_file {
            encode_once(encoder.as_ref(), &data, &mut out)
        } else {
            encode_in_flushes(encoder.as_ref(), input, &mut out)
        };
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let result = serde_json::json!({
        "engine": concat!("spillway ", env!("CARGO_PKG_VERSION")),
        "seconds": times[times.len() / 2],
        "out_bytes": out_bytes,
        "records": records,
        "peak_rss_kib": peak_rss_kib(),
    });
    println!("{result}");
}

/// One flush of all of `data`; returns (records, output bytes).
fn encode_once(encoder: &dyn Encoder, data: &[u8], out: &mut Vec<u8>) -> (usize, usize) {
    out.clear();
    let batch = batch_of(data);
    let outcome = encoder.encode(&batch, out).unwrap();
    assert_eq!(outcome.rows, batch.len(), "every record converts");
    (outcome.rows, out.len())
}

/// Reads `input` as the file source does (buffered reads, one line at a time) into batches
/// that flush at [`FLUSH_BYTES`], as the batcher does; each flush is its own object.
fn encode_in_flushes(encoder: &dyn Encoder, input: &Path, out: &mut Vec<u8>) -> (usize, usize) {
    let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(input).unwrap());
    let (mut line, mut records, mut out_bytes, mut position) = (Vec::new(), 0, 0, 0u64);
    let mut batch = new_batch();
    let shard: Arc<str> = Arc::from("bench");
    let mut flush = |batch: &Batch| {
        out.clear();
        let outcome = encoder.encode(batch, out).unwrap();
        assert_eq!(outcome.rows, batch.len(), "every record converts");
        records += outcome.rows;
        out_bytes += out.len();
    };
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).unwrap();
        if n == 0 {
            break;
        }
        position += n as u64;
        let record = line.strip_suffix(b"\n").unwrap_or(&line);
        if batch.data.len() + record.len() + 1 > FLUSH_BYTES {
            flush(&std::mem::replace(&mut batch, new_batch()));
        }
        batch.push(record, meta_at(&shard, position));
    }
    if !batch.is_empty() {
        flush(&batch);
    }
    (records, out_bytes)
}

/// This process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
