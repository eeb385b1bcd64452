//! Criterion benchmark: 64 MiB of clickstream NDJSON (made at bench time by
//! ../shared/bench/gen_events.py, not committed) → Parquet with zstd, `ts` as a timestamp,
//! through the same `ParquetEncoder` the pipeline uses. Reports MB/s of input.
//!
//! Run: `cargo bench --bench encode_parquet`; compare with pyarrow on the same input, same
//! sitting: `cargo bench --bench convert` runs it beside pyarrow and DuckDB (README,
//! "Benchmarks").

mod common;

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spillway_formats::encode::{Encoder, ParquetCompression, ParquetEncoder, SchemaSource};

use common::{batch_of, bench_input, clickstream_schema};

fn encode_parquet(c: &mut Criterion) {
    let data = std::fs::read(bench_input("clickstream", 140_000, 1, Some(64 << 20))).unwrap();
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
