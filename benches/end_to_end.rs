//! The end-to-end benchmark (issue 15): `spillway run` as a user runs it — the embedded
//! default's config (`config.example.toml`: Parquet snappy, `dt=/hour=` partitions from
//! `.ts`, a local catalog) over 1,000,000 clickstream events — against DuckDB doing the same
//! job in one `COPY … PARTITION_BY (dt, hour)` statement with `SET threads=2`
//! (benches/duckdb_copy.py). Also Spillway pinned to one core (`taskset -c 0`), and with the
//! `discard` destination (the pipeline without encoding or I/O). Runs are interleaved in one
//! sitting; the table gives medians of wall time, CPU time and peak RSS, and the ratios.
//!
//! Run: `cargo bench --bench end_to_end`. Python with duckdb comes from `$SPILLWAY_PYTHON`
//! (the testbed's venv) or `python3`. Optional: `SPILLWAY_BENCH_RUNS=3` (median of),
//! `SPILLWAY_BENCH_RECORDS=1000000`, and `SPILLWAY_BENCH_BEFORE=/path/to/an/older/spillway`
//! to add that binary's runs (2 cores, and discard) to the same sitting, for before/after
//! figures. The input is generated once (seed 1) into the target folder and reused.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::process::{duckdb, env_or, measured, median, target_dir, Measure};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--list") {
        // `cargo test --all-targets` runs bench targets without `--bench` (and `cargo bench
        // -- --list` asks for test names): nothing to time.
        println!("end_to_end: a benchmark; run it with `cargo bench --bench end_to_end`");
        return;
    }
    let runs: usize = env_or("SPILLWAY_BENCH_RUNS", 3);
    let records: usize = env_or("SPILLWAY_BENCH_RECORDS", 1_000_000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = target_dir().join("bench-end-to-end");
    std::fs::create_dir_all(&work).expect("a work folder in the target folder");
    let input = input_file(&work, records);
    let input_mb = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!("end to end: {records} clickstream events ({input_mb:.0} MB), {runs} runs each, interleaved");

    let discard = work.join("discard.toml");
    std::fs::write(&discard, discard_config(&input, &work)).expect("write the discard config");
    let mut table: Vec<(&str, Vec<Measure>)> = vec![
        ("spillway run (2 cores)", Vec::new()),
        ("duckdb COPY (threads=2)", Vec::new()),
        ("spillway run (1 core)", Vec::new()),
        ("spillway run, discard", Vec::new()),
    ];
    let before = std::env::var_os("SPILLWAY_BENCH_BEFORE").map(PathBuf::from);
    if before.is_some() {
        table.push(("before: spillway run (2 cores)", Vec::new()));
        table.push(("before: spillway run, discard", Vec::new()));
    }
    let now = Path::new(env!("CARGO_BIN_EXE_spillway"));
    for _ in 0..runs {
        let run = |binary: &Path, cpus: Option<&str>, config: Option<&Path>| {
            spillway(binary, &root, &input, &work, cpus, config)
        };
        table[0].1.push(run(now, None, None));
        let out = work.join("duckdb-out");
        table[1].1.push(
            duckdb(&root, "clickstream-parquet", 2, &input, &out)
                .expect("duckdb")
                .0,
        );
        table[2].1.push(run(now, Some("0"), None));
        table[3].1.push(run(now, None, Some(&discard)));
        if let Some(before) = &before {
            table[4].1.push(run(before, None, None));
            table[5].1.push(run(before, None, Some(&discard)));
        }
    }
    println!("| run | wall (median) | CPU | peak RSS | MB/s |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    let medians: Vec<Measure> = table.iter().map(|(_, m)| median(m)).collect();
    for ((name, _), m) in table.iter().zip(&medians) {
        println!(
            "| {name} | {:.2} s | {:.2} s | {:.0} MiB | {:.0} |",
            m.wall,
            m.cpu,
            m.peak_rss_mib,
            input_mb / m.wall
        );
    }
    println!(
        "spillway vs duckdb: {:.2}x (DuckDB's time over Spillway's: above 1, Spillway is faster); second core: {:.2}x; run over discard: {:.2}x",
        medians[1].wall / medians[0].wall,
        medians[2].wall / medians[0].wall,
        medians[0].wall / medians[3].wall,
    );
    if before.is_some() {
        println!(
            "now vs before: run {:.2}x, discard {:.2}x (before's time over now's)",
            medians[4].wall / medians[0].wall,
            medians[5].wall / medians[3].wall,
        );
    }
}

/// The input, generated with the project's generator on first use.
fn input_file(work: &Path, records: usize) -> PathBuf {
    let path = work.join(format!("clickstream-{records}.ndjson"));
    if !path.exists() {
        let mut options = spillway_gen::Options::new(spillway_gen::Kind::Clickstream, records);
        options.seed = 1;
        let tmp = path.with_extension("partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("create input"));
        spillway_gen::write_events(&options, &mut out).expect("write input");
        drop(out);
        std::fs::rename(&tmp, &path).expect("publish input");
    }
    path
}

/// The pipeline alone: the same source, decoding and partitioning, acknowledged by `discard`.
fn discard_config(input: &Path, work: &Path) -> String {
    format!(
        "name = \"clickstream\"\n[source]\ntype = \"file\"\npath = \"{}\"\ncheckpoint_file = \"{}\"\n\
         [processing]\ntime_field = \".ts\"\n[destination]\ntype = \"discard\"\n\
         prefix = \"events/dt=!{{timestamp:yyyy-MM-dd}}/hour=!{{timestamp:HH}}/\"\n\
         [dead_letter]\ntype = \"local\"\npath = \"{}\"\n",
        input.display(),
        work.join("discard-checkpoint.json").display(),
        work.join("discard-dead").display()
    )
}

/// One run of `binary` with the embedded default's config (or `config`) into a fresh lake,
/// pinned to `cpus` when given.
fn spillway(
    binary: &Path,
    root: &Path,
    input: &Path,
    work: &Path,
    cpus: Option<&str>,
    config: Option<&Path>,
) -> Measure {
    let lake = work.join("lake");
    let _ = std::fs::remove_dir_all(&lake);
    let _ = std::fs::remove_file(work.join("discard-checkpoint.json"));
    let _ = std::fs::remove_dir_all(work.join("discard-dead"));
    let example = root.join("config.example.toml");
    let config = config.unwrap_or(&example);
    let mut command = match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpus]).arg(binary);
            c
        }
        None => Command::new(binary),
    };
    command
        .args(["run", "--config"])
        .arg(config)
        .env("SPILLWAY_INPUT", input)
        .env("SPILLWAY_LAKE", &lake)
        .current_dir(root);
    let (measure, ok) = measured(command);
    assert!(ok, "spillway run failed");
    measure
}
