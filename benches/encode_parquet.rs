//! Criterion benchmark: 64 MiB of clickstream NDJSON (made at bench time by
//! ../shared/bench/gen_events.py, not committed) → Parquet with zstd, `ts` as a timestamp,
//! through the same `ParquetEncoder` the pipeline uses. Reports MB/s of input.
//!
//! Run: `cargo bench --bench encode_parquet`; compare with pyarrow on the same input, same
//! sitting: `python3 benches/pyarrow_baseline.py` (see README, "Benchmarks").

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spillway_formats::encode::{Encoder, ParquetCompression, ParquetEncoder, SchemaSource};
use spillway_formats::record::{Batch, PartitionKey, RecordMeta};
use spillway_formats::schema::{ColumnSpec, TableSchema};

const TARGET_BYTES: usize = 64 << 20;

/// The clickstream input, cached under target/ so repeated runs skip the generator.
fn clickstream_64mib() -> Vec<u8> {
    let cache =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
            .join("bench-data/clickstream-64mib.ndjson");
    if let Ok(data) = std::fs::read(&cache) {
        return data;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/gen_events.py");
    let out = Command::new("python3")
        .args([
            script,
            "--kind",
            "clickstream",
            "--count",
            "140000",
            "--seed",
            "1",
        ])
        .output()
        .expect("python3 runs the shared generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut data = out.stdout;
    // Cut at the last whole line within 64 MiB.
    let end = data[..TARGET_BYTES.min(data.len())]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    data.truncate(end);
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::write(&cache, &data).unwrap();
    data
}

/// The clickstream table schema, as in config.example.toml.
pub fn clickstream_schema() -> TableSchema {
    let col = |name: &str, t: &str| ColumnSpec {
        name: name.into(),
        hive_type: t.into(),
    };
    TableSchema::from_columns(&[
        col("event_id", "string"),
        col("user_id", "string"),
        col("session_id", "string"),
        col("event_type", "string"),
        col("url", "string"),
        col("referrer", "string"),
        col("user_agent", "string"),
        col("ts", "timestamp"),
        col("geo", "struct<country:string,city:string>"),
        col("props", "struct<device:string,screen:string,lang:string,ab_bucket:string,element_id:string,sku:string,query:string,depth_pct:int,cart_value:double>"),
    ])
    .unwrap()
}

fn batch_of(data: &[u8]) -> Batch {
    let mut batch = Batch::new(PartitionKey(Arc::from("bench/")));
    let shard: Arc<str> = Arc::from("bench");
    let mut position = 0u64;
    for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        position += line.len() as u64 + 1;
        let meta = RecordMeta {
            shard: shard.clone(),
            position,
            sequence_number: None,
            sub_sequence: None,
            arrival_ms: 0,
        };
        batch.push(line, meta);
    }
    batch
}

fn encode_parquet(c: &mut Criterion) {
    let data = clickstream_64mib();
    let batch = batch_of(&data);
    let encoder = ParquetEncoder::new(
        SchemaSource::Fixed(Arc::new(clickstream_schema())),
        ParquetCompression::Zstd(3),
        32 << 20,
    )
    .unwrap();
    let mut out = Vec::with_capacity(32 << 20);
    let outcome = encoder.encode(&batch, &mut out).unwrap();
    assert_eq!(outcome.rows, batch.len(), "every record converts");
    eprintln!(
        "input {} bytes, {} records → Parquet/zstd {} bytes",
        data.len(),
        batch.len(),
        out.len()
    );

    let mut group = c.benchmark_group("encode_parquet");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.sample_size(10);
    group.bench_function("clickstream_64mib_zstd", |b| {
        b.iter(|| {
            out.clear();
            encoder.encode(&batch, &mut out).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, encode_parquet);
criterion_main!(benches);
